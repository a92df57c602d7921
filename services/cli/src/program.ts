// The `switchyard` command tree (commander): dev, functions, keys, sessions, worker, nats-user. runCli() parses
// and runs one command line and returns the exit code; it never calls process.exit, so tests and
// scripts/dev.ts run it in-process.

import { Command, CommanderError } from 'commander';
import { CliError, CliErrorCode } from './cli-error.ts';
import { type CliIo, processIo } from './cli-io.ts';
import { addNatsUserCommands } from './command-nats-user.ts';
import { runServe, SERVE_SERVICES, type ServeOptions } from './command-serve.ts';
import { addStatusCommand } from './command-status.ts';
import { runWorker, type WorkerCommandOptions } from './command-worker.ts';
import { addFunctionCommands, addKeyCommands, addSessionCommands } from './commands-admin.ts';
import { parsePort } from './dev-ports.ts';
import { runDevRegions } from './dev-regions.ts';
import { DEFAULT_DEV_READY_TIMEOUT_MS, DEV_DEFAULT_PORTS, runDev } from './dev-stack.ts';
import { DEFAULT_STATE_DIR, resolveStateDir } from './dev-state.ts';
import { SWITCHYARD_VERSION } from './version.ts';

interface DevFlags {
  region?: string;
  regions?: string;
  grpcPort?: string;
  callbackPort?: string;
  apiPort?: string;
  httpPort?: string;
  httpCallbackPort?: string;
  readyTimeoutMs?: string;
  concurrency?: string;
}

/** Builds the command tree; `setExitCode` receives the code of commands that run a process. */
export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('switchyard')
    .description('Switchyard: a local dev region, and operator commands against the control API')
    .option('--api <url>', 'control API base URL (env SWITCHYARD_API_URL; default: from .switchyard/dev.json)')
    .option('--admin-token <token>', 'admin token of the API (env SWITCHYARD_ADMIN_TOKEN; default: from dev.json)')
    .option('--state-dir <dir>', 'state directory of the dev stack', DEFAULT_STATE_DIR)
    .version(SWITCHYARD_VERSION, '-V, --version', 'print the Switchyard version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) });

  program
    .command('dev')
    .description(
      'run a local region (nats, redis, api, grpc-proxy, invocation, sample functions and workers) until Ctrl-C',
    )
    .option('--region <name>', 'region name', 'local')
    .option(
      '--regions <names>',
      'comma-separated regions (e.g. us-east,eu-west): a 3-server NATS cluster and a full stack per region, joined by gateways, plus one geodns on :5353; ports of region i are the defaults + 100*i',
    )
    .option(
      '--grpc-port <port>',
      `gRPC proxy port, 0 = any free (env SWITCHYARD_DEV_GRPC_PORT; default ${DEV_DEFAULT_PORTS.grpc})`,
    )
    .option(
      '--callback-port <port>',
      `worker callback port, 0 = any free (env SWITCHYARD_DEV_CALLBACK_PORT; default ${DEV_DEFAULT_PORTS.callback})`,
    )
    .option(
      '--api-port <port>',
      `control API port, 0 = any free (env SWITCHYARD_DEV_API_PORT; default ${DEV_DEFAULT_PORTS.api})`,
    )
    .option(
      '--http-port <port>',
      `HTTP invocation port, 0 = any free (env SWITCHYARD_DEV_HTTP_PORT; default ${DEV_DEFAULT_PORTS.http})`,
    )
    .option(
      '--http-callback-port <port>',
      `HTTP worker callback port, 0 = any free (env SWITCHYARD_DEV_HTTP_CALLBACK_PORT; default ${DEV_DEFAULT_PORTS.httpCallback})`,
    )
    .option('--concurrency <n>', 'sessions per sample worker', '8')
    .option('--ready-timeout-ms <ms>', 'time each process gets to start', String(DEFAULT_DEV_READY_TIMEOUT_MS))
    .action(async (flags: DevFlags, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { stateDir?: string };
      let region = flags.region ?? 'local';
      let regions: string[] = [];
      if (flags.regions !== undefined) {
        regions = flags.regions.split(',').filter((r) => r !== '');
        if (regions.length === 0)
          throw new CliError(CliErrorCode.usage, `--regions needs at least one region name, got ${flags.regions}`);
        region = regions[0];
      }
      const port = (flag: string, value: string | undefined, envVar: string, fallback: number) => {
        const raw = value ?? io.env[envVar];
        return raw === undefined || raw === '' ? fallback : parsePort(raw, value !== undefined ? flag : envVar);
      };
      const positive = (flag: string, value: string | undefined) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1)
          throw new CliError(CliErrorCode.usage, `${flag} must be an integer >= 1, got ${value}`);
        return n;
      };
      const base = {
        stateDir: resolveStateDir(globals.stateDir, io.cwd),
        grpcPort: port('--grpc-port', flags.grpcPort, 'SWITCHYARD_DEV_GRPC_PORT', DEV_DEFAULT_PORTS.grpc),
        callbackPort: port(
          '--callback-port',
          flags.callbackPort,
          'SWITCHYARD_DEV_CALLBACK_PORT',
          DEV_DEFAULT_PORTS.callback,
        ),
        apiPort: port('--api-port', flags.apiPort, 'SWITCHYARD_DEV_API_PORT', DEV_DEFAULT_PORTS.api),
        httpPort: port('--http-port', flags.httpPort, 'SWITCHYARD_DEV_HTTP_PORT', DEV_DEFAULT_PORTS.http),
        httpCallbackPort: port(
          '--http-callback-port',
          flags.httpCallbackPort,
          'SWITCHYARD_DEV_HTTP_CALLBACK_PORT',
          DEV_DEFAULT_PORTS.httpCallback,
        ),
        readyTimeoutMs: positive('--ready-timeout-ms', flags.readyTimeoutMs),
        workerConcurrency: positive('--concurrency', flags.concurrency),
      };
      // Several regions: a supercluster and a stack per region (dev-regions.ts); one: the regional stack.
      setExitCode(
        regions.length > 1 ? await runDevRegions({ ...base, regions }, io) : await runDev({ ...base, region }, io),
      );
    });

  addFunctionCommands(program, io);
  addKeyCommands(program, io);
  addSessionCommands(program, io);
  addStatusCommand(program, io);
  addNatsUserCommands(program, io);

  program
    .command('worker')
    .description('run one worker in the foreground against the dev stack (or --nats/--region)')
    .requiredOption('--function-id <uuid>', 'function the worker serves')
    .requiredOption('--version-id <uuid>', 'function version the worker serves')
    .requiredOption('--upstream <url>', 'function container: grpc://HOST:PORT or http://HOST:PORT')
    .option('--concurrency <n>', 'concurrent sessions (worker default 8)')
    .option('--worker-id <id>', 'worker ID (default: generated by the worker)')
    .option('--nats <urls>', 'comma-separated NATS URLs (default: from dev.json)')
    .option('--region <name>', 'region (default: from dev.json)')
    .option('--callback-allow-list <prefixes>', 'comma-separated callback URI prefixes (default: from dev.json)')
    .action(async (flags: WorkerCommandOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals() as { stateDir?: string };
      setExitCode(await runWorker({ ...flags, stateDir: globals.stateDir }, io));
    });

  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('serve')
    .description(
      `run one service in the foreground (production entry point): ${Object.keys(SERVE_SERVICES).join('|')}; config from SWITCHYARD_* variables (docs/configuration.md); exit 0 after a drain on SIGTERM/SIGINT, 1 when start-up fails`,
    )
    .argument('<service>', Object.keys(SERVE_SERVICES).join(', '))
    .option('--env-file <path>', 'read KEY=value lines first (repeatable; the environment wins over them)', collect)
    .option(
      '--set <name=value>',
      'a config field or SWITCHYARD_* variable, winning over everything (repeatable)',
      collect,
    )
    .action(async (service: string, flags: ServeOptions) => {
      setExitCode(await runServe(service, flags));
    });

  return program;
}

/**
 * Runs one `switchyard` command line (arguments after the program name).
 * @returns the exit code: 0 on success, the command's own for `dev`/`worker`, 1 for errors, 2 for usage errors.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof CliError) {
      io.stderr(`error: ${err.message}\n`);
      if (err.hint !== undefined) io.stderr(`hint: ${err.hint}\n`);
      return err.exitCode;
    }
    io.stderr(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
