// `switchyard functions|keys|sessions ...`: thin commands over the operator API. Creates print
// JSON (the key of `keys create` is shown this once); lists print a table, or JSON with --json.

import type { Command } from 'commander';
import { type ApiEndpoint, callApi, resolveApiEndpoint } from './api-client.ts';
import { CliError, CliErrorCode } from './cli-error.ts';
import { type CliIo, printJson, printTable } from './cli-io.ts';

/** Global options every admin command understands. */
export interface AdminGlobalOptions {
  api?: string;
  adminToken?: string;
  stateDir?: string;
}

interface FunctionView {
  functionId: string;
  name: string;
  kind: string;
  accountId: string;
  inferenceUrl: string;
  versions: { versionId: string; status: string }[];
}
interface KeyView {
  keyId: string;
  accountId: string;
  functions: string[] | '*';
  description?: string;
  createdAtMs: number;
  revokedAtMs?: number;
}
interface SessionView {
  reqId: string;
  region: string;
  workerId: string;
  functionId: string;
  versionId: string;
  accountId: string;
  createdAtMs: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function requireUuid(what: string, value: string): string {
  if (!UUID.test(value)) throw new CliError(CliErrorCode.usage, `${what} must be a UUID, got ${JSON.stringify(value)}`);
  return value;
}

/** The API endpoint of an admin command: its global --api/--admin-token/--state-dir, env, then dev.json. */
export function endpointOf(command: Command, io: CliIo): ApiEndpoint {
  const opts = command.optsWithGlobals() as AdminGlobalOptions;
  return resolveApiEndpoint({
    api: opts.api,
    adminToken: opts.adminToken,
    stateDir: opts.stateDir,
    env: io.env,
    cwd: io.cwd,
  });
}

function iso(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toISOString();
}

function query(params: Record<string, string | undefined>): string {
  const entries = Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined);
  return entries.length === 0 ? '' : `?${new URLSearchParams(entries).toString()}`;
}

/** Adds `functions create|list|get|delete`. */
export function addFunctionCommands(program: Command, io: CliIo): void {
  const functions = program.command('functions').description('create, list, inspect and delete functions');

  functions
    .command('create')
    .description('create a function and its first deployed version; prints {functionId, versionId}')
    .requiredOption('--name <name>', 'function name (letters, digits, . _ -)')
    .requiredOption('--kind <kind>', 'grpc or http')
    .option('--inference-url <path>', 'path of the inference endpoint (HTTP functions)', undefined)
    .option('--account <id>', 'account ID (default: "default")')
    .option('--reconnect-window-ms <ms>', 'per-function session reconnect window, ms')
    .action(
      async (
        opts: { name: string; kind: string; inferenceUrl?: string; account?: string; reconnectWindowMs?: string },
        cmd: Command,
      ) => {
        if (opts.kind !== 'grpc' && opts.kind !== 'http')
          throw new CliError(CliErrorCode.usage, `--kind must be grpc or http, got ${JSON.stringify(opts.kind)}`);
        let reconnectWindowMs: number | undefined;
        if (opts.reconnectWindowMs !== undefined) {
          reconnectWindowMs = Number(opts.reconnectWindowMs);
          if (!Number.isInteger(reconnectWindowMs) || reconnectWindowMs < 0)
            throw new CliError(
              CliErrorCode.usage,
              `--reconnect-window-ms must be an integer >= 0, got ${opts.reconnectWindowMs}`,
            );
        }
        const { body } = await callApi<FunctionView & { versionId: string }>(
          endpointOf(cmd, io),
          'POST',
          '/v1/functions',
          {
            name: opts.name,
            kind: opts.kind,
            ...(opts.account !== undefined ? { accountId: opts.account } : {}),
            ...(opts.inferenceUrl !== undefined ? { inferenceUrl: opts.inferenceUrl } : {}),
            ...(reconnectWindowMs !== undefined ? { reconnectWindowMs } : {}),
          },
        );
        printJson(io, { functionId: body.functionId, versionId: body.versionId });
      },
    );

  functions
    .command('list')
    .description('list functions and their versions')
    .option('--account <id>', 'only this account')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { account?: string; json?: boolean }, cmd: Command) => {
      const { body } = await callApi<{ functions: FunctionView[] }>(
        endpointOf(cmd, io),
        'GET',
        `/v1/functions${query({ accountId: opts.account })}`,
      );
      if (opts.json) return printJson(io, body.functions);
      printTable(
        io,
        ['FUNCTION ID', 'NAME', 'KIND', 'ACCOUNT', 'VERSIONS'],
        body.functions.map((f) => [
          f.functionId,
          f.name,
          f.kind,
          f.accountId,
          f.versions.map((v) => `${v.versionId}${v.status === 'deployed' ? '' : ` (${v.status})`}`).join(', '),
        ]),
      );
    });

  functions
    .command('get')
    .description('print one function with its versions as JSON')
    .argument('<functionId>', 'function UUID')
    .action(async (functionId: string, _opts: unknown, cmd: Command) => {
      requireUuid('FUNCTION_ID', functionId);
      const { body } = await callApi(endpointOf(cmd, io), 'GET', `/v1/functions/${functionId}`);
      printJson(io, body);
    });

  functions
    .command('delete')
    .description('delete a function and all its versions')
    .argument('<functionId>', 'function UUID')
    .action(async (functionId: string, _opts: unknown, cmd: Command) => {
      requireUuid('FUNCTION_ID', functionId);
      await callApi(endpointOf(cmd, io), 'DELETE', `/v1/functions/${functionId}`);
      io.stdout(`deleted function ${functionId}\n`);
    });
}

/** Adds `keys create|list|revoke`. */
export function addKeyCommands(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('create, list and revoke API keys');

  keys
    .command('create')
    .description('create an API key; prints {keyId, key}: the key is shown this once')
    .option('--functions <ids>', 'comma-separated function UUIDs the key may invoke (default: all of the account)')
    .option('--account <id>', 'account ID (default: "default")')
    .option('--description <text>', 'free text shown by `keys list`')
    .action(async (opts: { functions?: string; account?: string; description?: string }, cmd: Command) => {
      let functions: string[] | '*' | undefined;
      if (opts.functions !== undefined) {
        const ids = opts.functions
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
        functions = ids.length === 1 && ids[0] === '*' ? '*' : ids.map((id) => requireUuid('--functions item', id));
        if (functions !== '*' && functions.length === 0)
          throw new CliError(CliErrorCode.usage, '--functions needs at least one function UUID (or omit it for all)');
      }
      const { body } = await callApi<{ keyId: string; key: string }>(endpointOf(cmd, io), 'POST', '/v1/keys', {
        ...(opts.account !== undefined ? { accountId: opts.account } : {}),
        ...(functions !== undefined ? { functions } : {}),
        ...(opts.description !== undefined ? { description: opts.description } : {}),
      });
      printJson(io, { keyId: body.keyId, key: body.key });
    });

  keys
    .command('list')
    .description('list API keys (never the keys themselves)')
    .option('--account <id>', 'only this account')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { account?: string; json?: boolean }, cmd: Command) => {
      const { body } = await callApi<{ keys: KeyView[] }>(
        endpointOf(cmd, io),
        'GET',
        `/v1/keys${query({ accountId: opts.account })}`,
      );
      if (opts.json) return printJson(io, body.keys);
      printTable(
        io,
        ['KEY ID', 'ACCOUNT', 'FUNCTIONS', 'CREATED', 'REVOKED', 'DESCRIPTION'],
        body.keys.map((k) => [
          k.keyId,
          k.accountId,
          k.functions === '*' ? '*' : k.functions.join(','),
          iso(k.createdAtMs),
          iso(k.revokedAtMs),
          k.description ?? '',
        ]),
      );
    });

  keys
    .command('revoke')
    .description('revoke an API key (every region stops accepting it within about a second)')
    .argument('<keyId>', 'key UUID (from `keys list`)')
    .action(async (keyId: string, _opts: unknown, cmd: Command) => {
      requireUuid('KEY_ID', keyId);
      await callApi(endpointOf(cmd, io), 'DELETE', `/v1/keys/${keyId}`);
      io.stdout(`revoked key ${keyId}\n`);
    });
}

/** Adds `sessions list|get|evict`. */
export function addSessionCommands(program: Command, io: CliIo): void {
  const sessions = program.command('sessions').description('list, inspect and evict stateful sessions');

  sessions
    .command('list')
    .description('list live sessions of the regions the API can read')
    .option('--region <region>', 'only this region')
    .option('--worker <workerId>', 'only sessions held by this worker')
    .option('--function <functionId>', 'only sessions of this function')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { region?: string; worker?: string; function?: string; json?: boolean }, cmd: Command) => {
      const { body } = await callApi<{ sessions: SessionView[] }>(
        endpointOf(cmd, io),
        'GET',
        `/v1/sessions${query({ region: opts.region, workerId: opts.worker, functionId: opts.function })}`,
      );
      if (opts.json) return printJson(io, body.sessions);
      printTable(
        io,
        ['REQUEST ID', 'REGION', 'WORKER', 'FUNCTION ID', 'VERSION ID', 'CREATED'],
        body.sessions.map((s) => [s.reqId, s.region, s.workerId, s.functionId, s.versionId, iso(s.createdAtMs)]),
      );
    });

  sessions
    .command('get')
    .description('print one session record as JSON (looked up in every region the API can read)')
    .argument('<reqId>', 'request ID (nvcf-reqid)')
    .action(async (reqId: string, _opts: unknown, cmd: Command) => {
      requireUuid('REQ_ID', reqId);
      const { body } = await callApi(endpointOf(cmd, io), 'GET', `/v1/sessions/${reqId}`);
      printJson(io, body);
    });

  sessions
    .command('evict')
    .description("end a session now: its worker frees the capacity and its clients' connections end")
    .argument('<reqId>', 'request ID (nvcf-reqid)')
    .action(async (reqId: string, _opts: unknown, cmd: Command) => {
      requireUuid('REQ_ID', reqId);
      const { status, body } = await callApi<{ evicted: boolean; reason?: string }>(
        endpointOf(cmd, io),
        'DELETE',
        `/v1/sessions/${reqId}`,
      );
      printJson(io, body);
      if (status === 202)
        io.stderr('note: the worker that held this session is gone; its record expires with the session bucket TTL\n');
    });
}
