// `switchyard status`: the live status page in the terminal. Reads GET /v1/status of the operator
// API (the regions' heartbeats as that API sees them) and prints a region table, capacity per
// function version and the workers; `--json` prints the API's document as is.

import type { Command } from 'commander';
import { callApi } from './api-client.ts';
import { type CliIo, printJson, printTable } from './cli-io.ts';
import { endpointOf } from './commands-admin.ts';

/** A front end's last-minute calls, as GET /v1/status reports them. */
interface CallsView {
  count: number;
  errors: number;
  p50Ms?: number;
  p95Ms?: number;
}
interface FrontEndView {
  instanceId: string;
  ageMs: number;
  sessions: number;
  calls?: CallsView;
}
interface RegionView {
  region: string;
  healthy: boolean;
  lastBeatAgeMs: number;
  sessions: number;
  calls: { count: number; errors: number; worstP50Ms?: number; worstP95Ms?: number };
  proxies: FrontEndView[];
  invocations: FrontEndView[];
  workers: {
    instanceId: string;
    ageMs: number;
    versionId: string;
    capacity?: number;
    freeCapacity: number;
    sessions: number;
  }[];
  versions: { versionId: string; workers: number; capacity: number; freeCapacity: number; sessions: number }[];
}
/** Body of GET /v1/status (services/api status-summary.ts). */
export interface StatusView {
  servedBy: string;
  generatedAtMs: number;
  regions: RegionView[];
}

/** A duration for a table cell: `-` when unknown. */
export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  if (ms < 10) return `${ms.toFixed(2)}ms`;
  if (ms < 10_000) return `${Math.round(ms)}ms`;
  return `${(ms / 1000).toFixed(1)}s`;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Prints `status` as three tables: regions, capacity per version, workers. */
export function printStatus(io: CliIo, status: StatusView): void {
  const regions = status.regions;
  printTable(
    io,
    [
      'REGION',
      'HEALTH',
      'PROXIES',
      'INVOCATION',
      'WORKERS',
      'SESSIONS',
      'CALLS/MIN',
      'ERRORS',
      'WORST P50',
      'WORST P95',
      'LAST BEAT',
    ],
    regions.map((r) => [
      r.region,
      r.healthy ? 'healthy' : 'no-front-end',
      String(r.proxies.length),
      String(r.invocations.length),
      String(r.workers.length),
      String(r.sessions),
      String(r.calls.count),
      String(r.calls.errors),
      formatMs(r.calls.worstP50Ms),
      formatMs(r.calls.worstP95Ms),
      seconds(r.lastBeatAgeMs),
    ]),
  );
  io.stdout('\n');
  printTable(
    io,
    ['REGION', 'VERSION ID', 'WORKERS', 'USED', 'FREE', 'TOTAL', 'SESSIONS'],
    regions.flatMap((r) =>
      r.versions.map((v) => [
        r.region,
        v.versionId,
        String(v.workers),
        String(v.capacity - v.freeCapacity),
        String(v.freeCapacity),
        String(v.capacity),
        String(v.sessions),
      ]),
    ),
  );
  io.stdout('\n');
  printTable(
    io,
    ['REGION', 'KIND', 'INSTANCE', 'VERSION ID', 'SESSIONS', 'FREE/TOTAL', 'CALLS/MIN', 'ERRORS', 'P95', 'LAST BEAT'],
    regions.flatMap((r) => [
      ...[
        ...r.proxies.map((f) => ['grpc-proxy', f] as const),
        ...r.invocations.map((f) => ['invocation', f] as const),
      ].map(([kind, f]) => [
        r.region,
        kind,
        f.instanceId,
        '',
        String(f.sessions),
        '',
        String(f.calls?.count ?? '-'),
        String(f.calls?.errors ?? '-'),
        formatMs(f.calls?.p95Ms),
        seconds(f.ageMs),
      ]),
      ...r.workers.map((w) => [
        r.region,
        'worker',
        w.instanceId,
        w.versionId,
        String(w.sessions),
        `${w.freeCapacity}/${w.capacity ?? '?'}`,
        '',
        '',
        '',
        seconds(w.ageMs),
      ]),
    ]),
  );
}

/** Adds `status`. */
export function addStatusCommand(program: Command, io: CliIo): void {
  program
    .command('status')
    .description(
      'live status of every region: health, front ends, workers and capacity per version, sessions, last-minute calls, errors and p50/p95',
    )
    .option('--json', 'print the API status document (GET /v1/status) as JSON instead of tables')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { body } = await callApi<StatusView>(endpointOf(cmd, io), 'GET', '/v1/status');
      if (opts.json) return printJson(io, body);
      printStatus(io, body);
    });
}
