// Entry of `npm run bench -- <mode> [options]` (scripts/bootstrap.mjs runs it on Node 24). Each mode
// lives in its own module, loaded only when chosen.

const MODES = {
  grpc: {
    about: 'unary and bidi gRPC load: direct vs nginx grpc_pass vs Switchyard',
    load: async () => {
      const { parseGrpcArgs, runGrpcBench } = await import('./grpc.ts');
      const { runSweep } = await import('./lib/sweep.ts');
      return (argv: string[]) => runSweep('grpc', runGrpcBench, argv, parseGrpcArgs);
    },
  },
  http: {
    about: 'HTTP/1.1 echo load and SSE per-event latency: direct vs nginx proxy_pass vs Switchyard',
    load: async () => {
      const { parseHttpArgs, runHttpBench } = await import('./http.ts');
      const { runSweep } = await import('./lib/sweep.ts');
      return (argv: string[]) => runSweep('http', runHttpBench, argv, parseHttpArgs);
    },
  },
  regions: {
    about: 'cross-region vs local session resume latency (G15) with a delayed gateway link',
    load: () => import('./regions.ts').then((m) => m.runRegionsBench),
  },
  memory: {
    about: 'memory per idle connection and per idle session; tunnels per worker',
    load: () => import('./memory.ts').then((m) => m.runMemoryBench),
  },
  overhead: {
    about: 'instructions per call of the front ends (callgrind): metrics and tracing on vs off (issue 9)',
    load: () => import('./overhead.ts').then((m) => m.runOverheadBench),
  },
  'telemetry-pair': {
    about: 'metrics and tracing overhead: two stacks, with and without, under load at the same time (issue 9)',
    load: () => import('./telemetry-pair.ts').then((m) => m.runTelemetryPairBench),
  },
  'http-relay-ir': {
    about: 'instructions per HTTP request of the worker relay and the invocation service (callgrind, issue 12)',
    load: () => import('./http-relay-ir.ts').then((m) => m.runRelayIrBench),
  },
  'relay-micro': {
    about: 'instructions per call of one relay hop (callgrind): in-process client -> relayStream -> echo vs direct',
    load: () => import('./relay-micro.ts').then((m) => m.runRelayMicroBench),
  },
  'stack-callgrind': {
    about: 'instructions per relayed gRPC call of the proxy and the worker, both under callgrind',
    load: () => import('./stack-callgrind.ts').then((m) => m.runStackCallgrindBench),
  },
} as const;

function usage(): string {
  const lines = Object.entries(MODES).map(([name, mode]) => `  ${name.padEnd(15)} ${mode.about}`);
  return `usage: npm run bench -- <mode> [options]   (<mode> --help for its options)\nmodes:\n${lines.join('\n')}`;
}

const [mode, ...rest] = process.argv.slice(2);
const chosen = mode === undefined ? undefined : MODES[mode as keyof typeof MODES];
if (chosen === undefined) {
  process.stderr.write(`${mode === undefined ? '' : `unknown mode: ${mode}\n`}${usage()}\n`);
  process.exit(2);
}
const run = await chosen.load();
process.exit(await run(rest));
