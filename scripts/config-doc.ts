// Writes docs/configuration.md from the services' config schemas (run: node scripts/config-doc.ts).
// test/config-doc.test.ts fails when the document and the schemas disagree.
import { writeFileSync } from 'node:fs';
import { formatConfigTable, SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { GeoDnsConfigSchema } from '@switchyard/geodns';
import { ProxyConfigSchema } from '@switchyard/grpc-proxy';
import { InvocationConfigSchema } from '@switchyard/invocation';
import { WorkerConfigSchema } from '@switchyard/worker';
import type { z } from 'zod';

const SERVICES: [string, string, z.ZodObject][] = [
  ['grpc-proxy', 'The regional gRPC proxy: client listener and worker callback listener.', ProxyConfigSchema],
  [
    'invocation',
    'The HTTP invocation service: client listener (HTTP/1.1, h2c, TLS) and worker callback listener.',
    InvocationConfigSchema,
  ],
  ['worker', 'The worker sidecar beside each function container.', WorkerConfigSchema],
  ['geodns', 'The authoritative geo DNS server (one for all regions).', GeoDnsConfigSchema],
];

/** The document's text; generated defaults (random IDs) are shown as `<uuid>`. */
export async function renderConfigDoc(): Promise<string> {
  const api = await import('@switchyard/api').catch(() => undefined);
  const services = [...SERVICES];
  const apiSchema = (api as { ApiConfigSchema?: z.ZodObject } | undefined)?.ApiConfigSchema;
  if (apiSchema) services.push(['api', 'The operator control API.', apiSchema]);
  const sections = services.map(([name, role, schema]) => `## ${name}\n\n${role}\n\n${formatConfigTable(schema)}`);
  const text = `# Configuration

Every service reads \`SWITCHYARD_*\` environment variables; command-line flags of \`switchyard\`
override them. Values are validated at start: a bad configuration stops the service with every
problem listed. Durations end in \`_MS\` (milliseconds); lists are comma-separated. Generated from the
schemas by \`node scripts/config-doc.ts\`.

## Node options

Each service runs as \`node <options> services/<name>/src/main.ts\`. \`switchyard dev\`, \`switchyard
worker\` and the benches pass these options (\`SERVICE_NODE_OPTIONS\` in @switchyard/config); when you
start a service yourself, pass them too (or put them in \`NODE_OPTIONS\`). A service started without
them logs a warning naming what is missing.

| service | options |
| --- | --- |
${Object.entries(SERVICE_NODE_OPTIONS)
  .map(([name, options]) => `| ${name} | ${options.length > 0 ? options.map((o) => `\`${o}\``).join(' ') : '(none)'} |`)
  .join('\n')}

\`--expose-gc\` lets the invocation service and the worker of an HTTP function ask V8 for a
young-generation collection (a few milliseconds) each time the memory held by Buffers has grown by
8 MiB. A streamed body arrives as one new Buffer per socket read or HTTP/2 DATA frame, held outside
the JS heap until the young generation is collected; without this, those collections are rare during
an upload and spent chunks pile up to V8's external-memory trigger (about 64 MiB). With it a 2 GiB
upload grows the invocation service by about 25 MiB instead of 75 MiB (\`scripts/http-large.ts\`, with
\`--without-node-options\` to compare); small requests never reach the threshold. A gRPC function's
worker does not do this: with many concurrent streams the forced collections move in-flight objects
to the old generation early, and bidi streaming cost 1.6x the worker CPU per MB.

## Listener bounds

Every client listener (gRPC proxy, invocation service, API) and every worker callback listener is
bounded by the \`SWITCHYARD_FIRST_BYTE_TIMEOUT_MS\`, \`..._HEADERS_TIMEOUT_MS\`, \`..._MAX_CONNECTIONS\`
and \`..._MAX_HEADER_LIST_BYTES\` fields below; the HTTP/2 ones (\`..._MAX_CONCURRENT_STREAMS\`,
\`..._HTTP2_MAX_SESSION_MEMORY_BYTES\`, \`..._HTTP2_MAX_REFUSED_STREAMS\`, \`..._HTTP2_MAX_INVALID_FRAMES\`,
the windows) apply to the two front ends.
What a client gets at each limit, as Envoy's overload manager answers:

| limit | answer |
| --- | --- |
| no byte within the first-byte timeout; headers not complete within the headers timeout | the connection is closed |
| one connection past \`MAX_CONNECTIONS\` | closed at once, no answer |
| a header list past \`MAX_HEADER_LIST_BYTES\` | HTTP/1.1 431; HTTP/2 the stream is reset |
| a stream past \`MAX_CONCURRENT_STREAMS\` (advertised in SETTINGS) before the client acknowledged it | RST_STREAM REFUSED_STREAM (RFC 9113 §5.1.2: not processed, safe to retry); the connection serves on |
| more than \`HTTP2_MAX_INVALID_FRAMES\` invalid frames on one connection (each refused stream counts as one) | GOAWAY ENHANCE_YOUR_CALM: the connection is closed, its streams reset |
| a stream past \`MAX_CONCURRENT_STREAMS\` from a client that had acknowledged our SETTINGS | GOAWAY PROTOCOL_ERROR (nghttp2: a connection error, RFC 9113 §5.4.1) |
| our SETTINGS not acknowledged within the headers timeout | GOAWAY SETTINGS_TIMEOUT (RFC 9113 §6.5.3) |
| a stream past the session memory (\`HTTP2_MAX_SESSION_MEMORY_BYTES\`); more than \`HTTP2_MAX_REFUSED_STREAMS\` of those | REFUSED_STREAM; then GOAWAY ENHANCE_YOUR_CALM |
| API: a request body past \`BODY_LIMIT_BYTES\`; a request not received within \`REQUEST_TIMEOUT_MS\` | 413; 408 and the connection closed |

\`MAX_CONCURRENT_STREAMS\` is also the bound on a connection's pending streams: a stream counts from
its HEADERS until it ends, whether it waits for a worker or is relayed. Measured
(\`test/stream-flood.test.ts\`, every part a process): one connection sending 10,000 streams at once
to a stalled container, with the defaults, has 1,000 taken and held, the next 1,002 refused, then
GOAWAY ENHANCE_YOUR_CALM (the refusals passed \`HTTP2_MAX_INVALID_FRAMES\`); the proxy's RSS grows by about 30 MiB (the test's bound: under 64 MiB) and
calls on other connections keep succeeding.

Flow control: each HTTP/2 stream's receive window (\`SWITCHYARD_HTTP2_STREAM_WINDOW_BYTES\`, 1 MiB) is
what bounds buffering: a peer (a client, or a worker through its tunnel) can make a front end hold at
most that much per open stream it does not read, so at most \`MAX_CONCURRENT_STREAMS\` x 1 MiB (1 GiB
with the defaults) for one client connection whose streams all stall with a container that keeps
sending; lower either to bound that further, at the cost of throughput on long round trips (a stream
moves at most one window per round trip). The connection window (\`SWITCHYARD_HTTP2_CONNECTION_WINDOW_BYTES\`, 16 MiB; it was
1 GiB) only bounds bytes in flight, since node acknowledges it as DATA arrives
(\`packages/tunnel/test/tunnel-window.test.ts\`: six stalled streams hold 1 MiB each under a 2 MiB
connection window while a seventh moves 32 MiB).

Per API key, on each instance (not shared between replicas): \`SWITCHYARD_MAX_CONNECTIONS_PER_KEY\`
(open client HTTP/2 connections on a proxy: RESOURCE_EXHAUSTED), \`..._MAX_SESSIONS_PER_KEY\` (sessions a
proxy holds: RESOURCE_EXHAUSTED, or 429 with Retry-After for a WebSocket; resumes are never refused),
\`..._MAX_WEBSOCKETS_PER_KEY\` (open WebSockets on a proxy: 429 problem+json with Retry-After) and
\`..._MAX_CONCURRENT_REQUESTS_PER_KEY\` (invocations in flight on an invocation instance: 429
problem+json with Retry-After). Codes in docs/errors.md.

${sections.join('\n')}`;
  return text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');
}

if (import.meta.main) {
  writeFileSync(new URL('../docs/configuration.md', import.meta.url), await renderConfigDoc());
  console.log('wrote docs/configuration.md');
}
