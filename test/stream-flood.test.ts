// Issue 11 item 2: one HTTP/2 connection opening 10,000 streams to a stalled container keeps the
// proxy's RSS under a stated bound, and valid calls on other connections keep succeeding meanwhile.
// Every part is a process: nats-server, the gRPC proxy (its RSS read from /proc/<pid>/status), a
// worker per function, and two echo containers, one of them stopped with SIGSTOP (it holds every
// call it gets). What the proxy answers (docs/configuration.md, "Listener bounds"): streams within
// SWITCHYARD_MAX_CONCURRENT_STREAMS are taken (each counts until it ends, waiting for a worker or
// relayed: this is the per-connection bound on pending streams); streams past it are refused with
// RST_STREAM REFUSED_STREAM (RFC 9113 §5.1.2; safe to retry), each refusal counting as an invalid
// frame; a connection past SWITCHYARD_HTTP2_MAX_INVALID_FRAMES is a flood and is closed with GOAWAY
// ENHANCE_YOUR_CALM. (Refusals happen while the client has not acknowledged our SETTINGS, at most
// SWITCHYARD_HEADERS_TIMEOUT_MS; one that acknowledged them and still opens a stream past the limit
// gets GOAWAY PROTOCOL_ERROR from nghttp2 at once.)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { LaunchedChild } from '@switchyard/region-launcher';
import { RawH2Connection } from '@switchyard/testkit';
import { echoClient, sleep, unary } from '../services/worker/test/helpers.ts';
import { launchProcessRegion, type ProcessRegion } from './process-region.ts';

const REGION = 'flood';
const STREAMS = 10_000;
/** SWITCHYARD_MAX_CONCURRENT_STREAMS of the proxy (the default). */
const MAX_STREAMS = 1_000;
/** The stated bound: the proxy's RSS grows by less than this while the flood is held. */
const RSS_GROWTH_BOUND_MIB = 64;
/** SWITCHYARD_HTTP2_MAX_INVALID_FRAMES of the proxy (the default): each refused stream counts as one. */
const MAX_REFUSED = 1_000;
const REFUSED_STREAM = 7;
const ENHANCE_YOUR_CALM = 11;
const PROTOCOL_ERROR = 1;

let region: ProcessRegion;
let proxy: LaunchedChild;
let proxyPort = 0;
let apiKey = '';
let fns: ProcessRegion['fns'] = {};

/** VmRSS of process `pid`, MiB. */
function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(match, `no VmRSS for ${pid}`);
  return Number(match[1]) / 1024;
}

/** Request headers of one flood stream: Echo.Unary of the stalled function. */
function floodHeaders(): Record<string, string> {
  return {
    ':method': 'POST',
    ':scheme': 'http',
    ':path': '/switchyard.echo.v1.Echo/Unary',
    ':authority': `127.0.0.1:${proxyPort}`,
    'content-type': 'application/grpc',
    te: 'trailers',
    authorization: `Bearer ${apiKey}`,
    'function-id': fns.stalled.functionId,
  };
}

before(async () => {
  region = await launchProcessRegion({
    region: REGION,
    redis: false,
    services: ['grpc-proxy'],
    functions: [
      { name: 'stalled', kind: 'grpc', sample: 'echo' },
      { name: 'echo', kind: 'grpc', sample: 'echo' },
    ],
    concurrency: 4,
  });
  ({ apiKey, fns } = region);
  const launched = region.launch.regions[REGION];
  proxy = launched.services['grpc-proxy'] as LaunchedChild;
  proxyPort = launched.ports.grpc;
});

after(async () => {
  const stalled = region?.launch.regions[REGION].samples.stalled?.child;
  if (stalled && stalled.pid > 0) {
    try {
      process.kill(stalled.pid, 'SIGCONT');
    } catch {}
  }
  await region?.stop();
});

test(`one connection opening ${STREAMS} streams to a stalled container keeps the proxy under +${RSS_GROWTH_BOUND_MIB} MiB RSS`, async () => {
  const address = `127.0.0.1:${proxyPort}`;
  const md = (fn: 'stalled' | 'echo') => ({ authorization: `Bearer ${apiKey}`, 'function-id': fns[fn].functionId });
  // Warm both paths (sessions, tunnels, the worker's connection to each container), then stall one container.
  for (const fn of ['stalled', 'echo'] as const) {
    const client = echoClient(address);
    assert.equal((await unary(client, {}, md(fn))).res.payload.toString(), 'ping');
    client.close();
  }
  const stalledPid = region.launch.regions[REGION].samples.stalled.child.pid;
  process.kill(stalledPid, 'SIGSTOP');
  await sleep(1_000);
  const baseline = rssMiB(proxy.pid);

  // Valid calls on another connection, all along (one session; a fresh connection is tried at the end).
  let valid = 0;
  const failures: string[] = [];
  let stop = false;
  const validClient = echoClient(address);
  const caller = (async () => {
    while (!stop) {
      try {
        await unary(validClient, {}, md('echo'), { deadlineMs: 20_000 });
        valid++;
      } catch (err) {
        failures.push(String((err as Error).message));
      }
      await sleep(100);
    }
  })();

  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(proxy.pid));
  }, 100);
  const flood = await RawH2Connection.open('127.0.0.1', proxyPort);
  try {
    const headers = floodHeaders();
    // All 10,000 at once, before the client acknowledges the proxy's SETTINGS.
    await flood.openStreams(STREAMS, headers, Buffer.alloc(5));
    const deadline = Date.now() + 60_000;
    while (!flood.counts.closed && Date.now() < deadline) await sleep(200);
    const held = rssMiB(proxy.pid);
    await sleep(1_000);
    console.log(
      `# flood: ${STREAMS} streams, resets by code ${JSON.stringify([...flood.counts.rst])}, responses ${flood.counts.responses}, goaway ${JSON.stringify(flood.counts.goaway)}, closed ${flood.counts.closed}; proxy RSS ${baseline.toFixed(1)} -> peak ${peak.toFixed(1)} MiB (at close ${held.toFixed(1)}); valid calls meanwhile ${valid}, failed ${failures.length}`,
    );
    // The first MAX_STREAMS streams were taken (held by the stalled container, never answered)...
    assert.equal(flood.counts.goaway?.lastStreamId, 2 * MAX_STREAMS - 1, 'streams taken: ids 1..1999');
    assert.equal(flood.counts.responses, 0, 'the stalled container answered nothing');
    // ...the next MAX_REFUSED were refused (node counts one past the limit before it acts)...
    const refused = flood.resets(REFUSED_STREAM);
    assert.ok(refused >= MAX_REFUSED && refused <= MAX_REFUSED + 2, `refused ${refused}`);
    // ...then the connection was closed as a flood; the rest were never processed (GOAWAY's last stream ID).
    assert.equal(flood.counts.goaway?.code, ENHANCE_YOUR_CALM);
    assert.ok(flood.counts.closed);
    assert.ok(peak - baseline < RSS_GROWTH_BOUND_MIB, `proxy RSS grew ${(peak - baseline).toFixed(1)} MiB`);
  } finally {
    clearInterval(sampler);
    flood.destroy();
    stop = true;
    await caller;
    validClient.close();
  }
  assert.ok(valid > 0, 'valid calls succeeded during the flood');
  assert.deepEqual(failures, [], 'no valid call failed');
  // And after it.
  const client = echoClient(address);
  assert.equal((await unary(client, {}, md('echo'))).res.payload.toString(), 'ping');
  client.close();
});

test('a client that acknowledged the stream limit and opens a stream past it gets GOAWAY PROTOCOL_ERROR', async () => {
  const flood = await RawH2Connection.open('127.0.0.1', proxyPort);
  flood.ackSettings();
  await sleep(500);
  await flood.openStreams(MAX_STREAMS + 100, floodHeaders(), Buffer.alloc(5));
  const end = Date.now() + 30_000;
  while (!flood.counts.closed && Date.now() < end) await sleep(200);
  flood.destroy();
  // nghttp2 treats exceeding an acknowledged SETTINGS_MAX_CONCURRENT_STREAMS as a connection error
  // (RFC 9113 §5.4.1 allows it): the first MAX_STREAMS were taken, the connection is closed.
  assert.equal(flood.counts.goaway?.code, PROTOCOL_ERROR);
  assert.equal(flood.counts.goaway?.lastStreamId, 2 * MAX_STREAMS - 1);
  assert.ok(flood.counts.closed);
  const client = echoClient(`127.0.0.1:${proxyPort}`);
  const md = { authorization: `Bearer ${apiKey}`, 'function-id': fns.echo.functionId };
  assert.equal((await unary(client, {}, md)).res.payload.toString(), 'ping');
  client.close();
});
