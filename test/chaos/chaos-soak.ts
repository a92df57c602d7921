// The chaos soak (issue 11, item 7), shared by `scripts/chaos.ts --minutes N` and the short run in
// `npm test`: mixed load on a ChaosRegion while, every `intervalMs`, one process chosen in turn from
// {a NATS server, a gRPC proxy, an invocation instance, a worker} is SIGKILLed and restarted, and Redis
// is killed and restarted once, half-way. The ledger counts every answer; RSS is sampled per minute.

import { acceptedLane, ChaosLedger, grpcBidiLane, grpcSessionLane, httpEchoLane, sseLane } from './chaos-load.ts';
import type { ChaosRegion, ChaosTargetKind } from './chaos-region.ts';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** How long the load runs, ms. */
  durationMs: number;
  /** Time between two kills, ms. @default 20_000 */
  intervalMs?: number;
  /** Seed of the choice of instance within a kind (the kinds rotate). @default 1 */
  seed?: number;
  /** RSS sampling interval, ms. @default 60_000 */
  rssIntervalMs?: number;
  /** Progress lines (kills, RSS samples). */
  log?: (line: string) => void;
}

/** What a chaos run saw. */
export interface ChaosReport {
  ledger: ChaosLedger;
  /** RSS (bytes) of every process, one sample per `rssIntervalMs`, the first at the start. */
  rss: { atS: number; bytes: Record<string, number> }[];
  /** Kills in order: child name and seconds from the start. */
  kills: { name: string; atS: number; downS: number }[];
}

const ROTATION: readonly ChaosTargetKind[] = ['nats', 'grpc-proxy', 'invocation', 'worker'];

/** A small deterministic generator (mulberry32) so a run's choices repeat with its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs the load and the kills on `region` for `durationMs`; never throws for what it counts. */
export async function runChaos(region: ChaosRegion, options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const intervalMs = options.intervalMs ?? 20_000;
  const rssIntervalMs = options.rssIntervalMs ?? 60_000;
  const next = random(options.seed ?? 1);
  const ledger = new ChaosLedger();
  const startedMs = Date.now();
  const seconds = (ms: number) => Math.round((ms - startedMs) / 100) / 10;
  const report: ChaosReport = { ledger, rss: [{ atS: 0, bytes: region.rss() }], kills: [] };
  const stop = new AbortController();
  const lanes = [
    ...[0, 1, 2, 3].map((i) => grpcSessionLane(region, ledger, i, stop.signal)),
    grpcBidiLane(region, ledger, 0, stop.signal),
    ...[0, 1].map((i) => httpEchoLane(region, ledger, i, stop.signal)),
    acceptedLane(region, ledger, 0, stop.signal),
    sseLane(region, ledger, 0, stop.signal),
  ];
  const rssTimer = setInterval(() => {
    const sample = { atS: seconds(Date.now()), bytes: region.rss() };
    report.rss.push(sample);
    log(
      `rss at ${sample.atS}s: ${Object.entries(sample.bytes)
        .map(([n, b]) => `${n} ${Math.round(b / 2 ** 20)} MiB`)
        .join(', ')}`,
    );
  }, rssIntervalMs);

  let redisDone = false;
  let turn = 0;
  try {
    for (let k = 0; ; k++) {
      const wait = startedMs + (k + 1) * intervalMs - Date.now();
      if (Date.now() + wait >= startedMs + options.durationMs) break;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
      const halfway = Date.now() - startedMs >= options.durationMs / 2;
      const kind: ChaosTargetKind = halfway && !redisDone ? 'redis' : ROTATION[turn++ % ROTATION.length];
      if (kind === 'redis') redisDone = true;
      const names = region.names(kind);
      const name = names[Math.floor(next() * names.length)];
      const event: { name: string; atMs: number; backMs?: number } = { name, atMs: Date.now() };
      ledger.kills.push(event);
      log(`${seconds(event.atMs)}s: SIGKILL ${name}`);
      try {
        await region.restart(name);
        event.backMs = Date.now();
        log(`${seconds(event.backMs)}s: ${name} is back`);
      } catch (err) {
        event.backMs = Date.now();
        ledger.fail('restart', `${name} did not come back: ${(err as Error).message}`);
      }
      report.kills.push({ name, atS: seconds(event.atMs), downS: seconds(event.backMs) - seconds(event.atMs) });
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedMs + options.durationMs - Date.now())));
  } finally {
    stop.abort();
    clearInterval(rssTimer);
    await Promise.all(lanes);
  }
  report.rss.push({ atS: seconds(Date.now()), bytes: region.rss() });
  return report;
}
