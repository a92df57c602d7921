// Node/V8 options each service is started with, in one place: the CLI (`switchyard dev`,
// `switchyard worker`), the benches and the scripts read them from here, and a service started
// without them says so at start (docs/configuration.md, "Node options").
import { type BufferReclaimer, startBufferReclaimer } from './buffer-reclaimer.ts';

/** Services whose entry file is `services/<name>/src/main.ts`. */
export type ServiceName = 'api' | 'geodns' | 'grpc-proxy' | 'invocation' | 'worker';

/**
 * Node options per service, given before the entry file (`node <options> services/<name>/src/main.ts`).
 *
 * `--expose-gc` lets the invocation service and an HTTP function's worker run `startBufferReclaimer`
 * (a gRPC function's worker does not: there it cost more CPU than it saved memory): a streamed
 * body arrives as one fresh Buffer per socket read or HTTP/2 DATA frame, backed outside the JS heap
 * and freed only when V8 collects the young generation, which little JS garbage per chunk makes rare.
 * Without the reclaimer, spent chunks pile up to V8's external-memory trigger (about 64 MiB) during
 * an upload; with it a 2 GiB upload grows RSS by about 25 MiB rather than 75 MiB (issue 3's bound is
 * 64 MiB), and small requests pay nothing (bench/RESULTS.md). Bounding the young generation instead
 * (`--max-semi-space-size=1`) gave the same RSS for about 10% more CPU per small request and a
 * worse SSE tail, so it is not used.
 */
export const SERVICE_NODE_OPTIONS: Readonly<Record<ServiceName, readonly string[]>> = Object.freeze({
  api: [],
  geodns: [],
  'grpc-proxy': [],
  invocation: ['--expose-gc'],
  worker: ['--expose-gc'],
});

/**
 * The options of `SERVICE_NODE_OPTIONS[service]` this process was started without: each is looked
 * for by name (the part before `=`) in `execArgv` and in `NODE_OPTIONS`, so a different value set
 * on purpose counts as given.
 * @param execArgv the process's Node options (default `process.execArgv`).
 * @param nodeOptions the NODE_OPTIONS environment variable (default `process.env.NODE_OPTIONS`).
 * @returns the missing options, e.g. `['--expose-gc']`; empty when none are missing.
 */
export function missingNodeOptions(
  service: ServiceName,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((o) => o.split('=')[0]?.replaceAll('_', '-'));
  return SERVICE_NODE_OPTIONS[service].filter((o) => !given.includes(o.split('=')[0]));
}

/**
 * What a service's entry does with its Node options at start: warns through `log` when any of
 * `SERVICE_NODE_OPTIONS[service]` is missing (naming them and what that costs), then starts the
 * buffer reclaimer (a no-op without `--expose-gc`).
 * @param log any logger with pino's `warn(object, message)` shape.
 * @returns the reclaimer, or undefined when `gc` is not exposed.
 */
export function startServiceRuntime(
  service: ServiceName,
  log: { warn(details: object, message: string): void },
): BufferReclaimer | undefined {
  const missingOptions = missingNodeOptions(service);
  if (missingOptions.length > 0)
    log.warn(
      { missingOptions },
      'started without its Node options: a large streamed body can grow RSS by about 75 MiB (docs/configuration.md, "Node options")',
    );
  return startBufferReclaimer();
}
