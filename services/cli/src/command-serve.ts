// `switchyard serve <service>`: the production entry point. Runs one service in the foreground from its
// environment (SWITCHYARD_* variables, the same schemas as docs/configuration.md), optional env files
// and `--set name=value` flags, with the Node options the service needs. When this process already
// has them (an image sets NODE_OPTIONS), the service runs in this process; otherwise it runs as one
// child with them, signals forwarded and its exit code returned. Exit codes: docs/cli.md, "serve".

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { missingNodeOptions, SERVICE_NODE_OPTIONS, type ServiceName } from '@switchyard/config';
import { CliError, CliErrorCode } from './cli-error.ts';
import { node24Binary, requireEntrypoint } from './node-binary.ts';

/** Services `serve` runs, by the name the command takes, with their entry in the region launcher. */
export const SERVE_SERVICES = {
  'grpc-proxy': 'grpcProxy',
  invocation: 'invocation',
  api: 'api',
  worker: 'worker',
  geodns: 'geodns',
} as const satisfies Record<ServiceName, string>;

/** Flags of `switchyard serve`. */
export interface ServeOptions {
  /** Env files (`KEY=value` lines, as `node --env-file` reads them), applied in order; the process environment wins over them. */
  envFile?: string[];
  /** `name=value` settings: a config field name (`region`) or its variable (`SWITCHYARD_REGION`); these win over everything. */
  set?: string[];
}

const FIELD = /^[a-z][A-Za-z0-9]*$/;
const VARIABLE = /^SWITCHYARD_[A-Z0-9_]+$/;

/**
 * The variable a `--set` name stands for: `SWITCHYARD_REGION` as is, `callbackPort` as
 * `SWITCHYARD_CALLBACK_PORT` (the config loader's naming, docs/configuration.md).
 * @returns undefined when the name is neither.
 */
export function variableOf(name: string): string | undefined {
  if (VARIABLE.test(name)) return name;
  if (!FIELD.test(name)) return undefined;
  return `SWITCHYARD_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * The environment the service starts with: env files (in order), then `base` (the process's own
 * environment), then `--set` values.
 * @throws CliError CLI_USAGE listing every unreadable env file and malformed `--set`.
 */
export function serveEnv(
  options: ServeOptions,
  base: Record<string, string | undefined>,
): Record<string, string | undefined> {
  const problems: string[] = [];
  const fromFiles: Record<string, string> = {};
  for (const file of options.envFile ?? []) {
    try {
      Object.assign(fromFiles, parseEnv(readFileSync(file, 'utf8')));
    } catch (err) {
      problems.push(`--env-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const sets: Record<string, string> = {};
  for (const item of options.set ?? []) {
    const eq = item.indexOf('=');
    const variable = eq > 0 ? variableOf(item.slice(0, eq)) : undefined;
    if (variable === undefined) {
      problems.push(
        `--set must be <field>=<value> or SWITCHYARD_<NAME>=<value> (e.g. region=us-east), got ${JSON.stringify(item)}`,
      );
      continue;
    }
    sets[variable] = item.slice(eq + 1);
  }
  if (problems.length > 0) throw new CliError(CliErrorCode.usage, problems.join('\n'));
  return { ...fromFiles, ...base, ...sets };
}

/**
 * Runs `service` in the foreground until it exits.
 * @returns the exit code: the service's own (0 after a drain on SIGTERM/SIGINT, 1 for a start-up
 *   failure or an overrun drain), 128 + the signal number when a signal killed the child.
 * @throws CliError CLI_USAGE for an unknown service or bad flags; CLI_MISSING when the entry file or Node 24 is missing.
 */
export async function runServe(service: string, options: ServeOptions): Promise<number> {
  if (!Object.hasOwn(SERVE_SERVICES, service))
    throw new CliError(
      CliErrorCode.usage,
      `unknown service ${JSON.stringify(service)}: one of ${Object.keys(SERVE_SERVICES).join(', ')}`,
    );
  const name = service as ServiceName;
  const env = serveEnv(options, process.env);
  const entry = requireEntrypoint(SERVE_SERVICES[name]);
  if (missingNodeOptions(name).length === 0 && Number(process.versions.node.split('.')[0]) >= 24) {
    // This process has what the service needs: run it here (one process per container, signals as is).
    for (const [key, value] of Object.entries(env)) if (value !== undefined) process.env[key] = value;
    await import(entry);
    return 0; // runService owns the process from here: its drain calls process.exit.
  }
  return runChild(node24Binary(), [...SERVICE_NODE_OPTIONS[name], entry], env);
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Runs `node args` with inherited stdio, forwarding SIGINT, SIGTERM and SIGHUP.
 * @returns its exit code, or 128 + the signal number when a signal ended it.
 */
export async function runChild(
  node: string,
  args: readonly string[],
  env: Record<string, string | undefined>,
): Promise<number> {
  const child = spawn(node, args, { env, stdio: 'inherit' });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const forward = (signal: NodeJS.Signals) => () => void child.kill(signal);
  const handlers = signals.map((signal) => [signal, forward(signal)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (c, s) => resolve([c, s]));
    });
    if (code !== null) return code;
    return 128 + (SIGNAL_NUMBERS[signal as NodeJS.Signals] ?? 0);
  } finally {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
}
