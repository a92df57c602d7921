// Node/V8 options each service is started with, in one place: the CLI (`switchyard dev`,
// `switchyard worker`), the benches and the scripts read them from here, and a service started
// without them says so at start (docs/configuration.md, "Node options").

/** Services whose entry file is `services/<name>/src/main.ts`. */
export type ServiceName = 'api' | 'geodns' | 'grpc-proxy' | 'invocation' | 'worker';

/**
 * Node options per service, given before the entry file (`node <options> services/<name>/src/main.ts`).
 *
 * `--max-semi-space-size=1` (MiB) keeps V8's young generation at 1 MiB instead of letting it grow to
 * 16 MiB. A streamed body arrives as one fresh Buffer per socket read or HTTP/2 DATA frame, backed
 * outside the JS heap and freed only when the young generation is collected. A large young
 * generation with little JS garbage per chunk means such collections are rare, so up to V8's
 * external-memory trigger (about 64 MiB) of spent chunks piles up before a full GC. With 1 MiB, a
 * 2 GiB upload grows the invocation service's RSS by about 30 MiB rather than 75 MiB (issue 3's
 * bound is 64 MiB), for about 5% more CPU per small request (bench/RESULTS.md).
 */
export const SERVICE_NODE_OPTIONS: Readonly<Record<ServiceName, readonly string[]>> = Object.freeze({
  api: [],
  geodns: [],
  'grpc-proxy': [],
  invocation: ['--max-semi-space-size=1'],
  worker: ['--max-semi-space-size=1'],
});

/**
 * The options of `SERVICE_NODE_OPTIONS[service]` this process was started without: each is looked
 * for by name (the part before `=`) in `execArgv` and in `NODE_OPTIONS`, so a different value set
 * on purpose counts as given.
 * @param execArgv the process's Node options (default `process.execArgv`).
 * @param nodeOptions the NODE_OPTIONS environment variable (default `process.env.NODE_OPTIONS`).
 * @returns the missing options, e.g. `['--max-semi-space-size=1']`; empty when none are missing.
 */
export function missingNodeOptions(
  service: ServiceName,
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string | undefined = process.env.NODE_OPTIONS,
): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((o) => o.split('=')[0]?.replaceAll('_', '-'));
  return SERVICE_NODE_OPTIONS[service].filter((o) => !given.includes(o.split('=')[0]));
}
