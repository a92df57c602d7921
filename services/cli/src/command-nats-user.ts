// `switchyard nats-user worker --version-id <id> --region <r>`: prints the NATS user block of one
// function version's workers for infra/nats/production/users.conf (@switchyard/nats-connect renders
// it), with a new nkey whose seed is written to --seed-out unless --nkey names an existing one.

import { writeFileSync } from 'node:fs';
import { createUserNkey, renderWorkerNatsUser } from '@switchyard/nats-connect';
import type { Command } from 'commander';
import { CliError, CliErrorCode } from './cli-error.ts';
import type { CliIo } from './cli-io.ts';

/** Flags of `nats-user worker`. */
interface NatsUserWorkerFlags {
  versionId: string;
  region: string;
  nkey?: string;
  seedOut?: string;
}

/** Adds `nats-user worker`. */
export function addNatsUserCommands(program: Command, io: CliIo): void {
  const natsUser = program
    .command('nats-user')
    .description('print NATS user blocks for infra/nats/production/users.conf');
  natsUser
    .command('worker')
    .description("print the NATS user of one function version's workers (a new nkey unless --nkey is given)")
    .requiredOption('--version-id <versionId>', 'function version whose workers use this user')
    .requiredOption('--region <names>', 'comma-separated regions its workers run in')
    .option('--nkey <public>', 'public user nkey to use (default: generate one; needs --seed-out)')
    .option('--seed-out <file>', 'where to write the seed of a generated nkey (mode 0600): SWITCHYARD_NATS_NKEY_SEED')
    .action((flags: NatsUserWorkerFlags) => {
      const regions = flags.region
        .split(',')
        .map((r) => r.trim())
        .filter((r) => r !== '');
      let nkey = flags.nkey;
      if (nkey === undefined) {
        if (flags.seedOut === undefined)
          throw new CliError(CliErrorCode.usage, 'a generated nkey needs --seed-out <file> for its seed', {
            hint: 'or pass the public key of an existing nkey with --nkey U...',
          });
        const pair = createUserNkey();
        writeFileSync(flags.seedOut, `${pair.seed}\n`, { mode: 0o600 });
        nkey = pair.publicKey;
      }
      try {
        io.stdout(renderWorkerNatsUser({ versionId: flags.versionId, regions, nkey }));
      } catch (err) {
        if (err instanceof TypeError) throw new CliError(CliErrorCode.usage, err.message);
        throw err;
      }
    });
}
