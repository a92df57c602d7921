// Large-body check of issue 3 (not in the default test run): a 2 GiB upload and a 2 GiB download
// through the HTTP invocation service and a worker, each a separate process, with their RSS sampled
// from /proc every 100 ms. Passes when neither process grows by 64 MiB or more.
//   ./node_modules/.bin/node scripts/http-large.ts [--mib 2048] [--h2] [--without-node-options]
// --h2 sends the requests over cleartext HTTP/2 instead of HTTP/1.1. The services run with their
// SERVICE_NODE_OPTIONS (@switchyard/config), as `switchyard dev` starts them; --without-node-options
// runs them without, for comparison.

import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { startHttpSampleServer } from '@switchyard/sample-functions';
import { freePort, startNats, startRedis, stopAll } from '@switchyard/testkit';
import { request } from 'undici';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '2048' },
    h2: { type: 'boolean' },
    'without-node-options': { type: 'boolean' },
  },
});
/** The services' Node options (SERVICE_NODE_OPTIONS), or none with --without-node-options. */
const optionsOf = (service: 'invocation' | 'worker'): readonly string[] =>
  values['without-node-options'] ? [] : SERVICE_NODE_OPTIONS[service];
const MiB = 1024 * 1024;
const total = Number(values.mib) * MiB;
const node = process.execPath;
const root = new URL('../', import.meta.url).pathname;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

function startChild(entry: string, nodeOptions: readonly string[], env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(node, [...nodeOptions, entry], {
    env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      if (out.includes('"ready":true')) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`${entry} exited ${code}`)));
  });
}

/** Deterministic bytes (pattern repeats every 251 bytes). */
function patternBuffer(size: number, offset: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (offset + i) % 251;
  return b;
}

function pattern(size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return void this.push(null);
      const n = Math.min(256 * 1024, size - sent);
      this.push(patternBuffer(n, sent));
      sent += n;
    },
  });
}

const [nats, redis] = await Promise.all([startNats(), startRedis()]);
const nc = await connect({ servers: nats.url });
const control = await ControlStore.open(nc);
const { fn, version } = await control.createFunction({ accountId: 'large', name: 'large', kind: 'http' });
const { key } = await control.createApiKey({ accountId: 'large' });
// The HTTP sample: /upload answers {sha256, bytes}; /download?bytes=N streams N bytes.
const container = await startHttpSampleServer({ port: 0, host: '127.0.0.1' });
const [port, callbackPort] = [await freePort(), await freePort()];
const common = { SWITCHYARD_REGION: 'large', SWITCHYARD_NATS_SERVERS: nats.url };
const invocation = await startChild(`${root}services/invocation/src/main.ts`, optionsOf('invocation'), {
  ...common,
  SWITCHYARD_HOST: '127.0.0.1',
  SWITCHYARD_PORT: String(port),
  SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
  SWITCHYARD_CALLBACK_PORT: String(callbackPort),
  SWITCHYARD_REDIS_URL: redis.url,
});
const worker = await startChild(`${root}services/worker/src/main.ts`, optionsOf('worker'), {
  ...common,
  SWITCHYARD_FUNCTION_ID: fn.functionId,
  SWITCHYARD_VERSION_ID: version.versionId,
  SWITCHYARD_UPSTREAM: `http://127.0.0.1:${container.port}`,
});
const host = `${fn.functionId}.invocation.127.0.0.1:${port}`;
// The longest poll window (H8): on a slow or loaded machine a 2 GiB upload may take more than the
// default 60 s, and its answer would then be a 202 with nothing to check.
const POLL_SECONDS = '3600';
const headers = { host, authorization: `Bearer ${key}`, 'nvcf-poll-seconds': POLL_SECONDS };

async function measured(what: string, run: () => Promise<void>): Promise<boolean> {
  const base = { inv: rssMiB(invocation.pid!), wrk: rssMiB(worker.pid!) };
  const peak = { ...base };
  const timer = setInterval(() => {
    peak.inv = Math.max(peak.inv, rssMiB(invocation.pid!));
    peak.wrk = Math.max(peak.wrk, rssMiB(worker.pid!));
  }, 100);
  const started = Date.now();
  await run();
  clearInterval(timer);
  const secs = (Date.now() - started) / 1000;
  const growth = { inv: peak.inv - base.inv, wrk: peak.wrk - base.wrk };
  const ok = growth.inv < 64 && growth.wrk < 64;
  console.log(
    `${ok ? 'PASS' : 'MISS'} ${what} ${values.mib} MiB in ${secs.toFixed(1)} s (${(total / MiB / secs).toFixed(0)} MiB/s): RSS growth invocation ${growth.inv.toFixed(1)} MiB, worker ${growth.wrk.toFixed(1)} MiB`,
  );
  return ok;
}

async function h2Call(
  path: string,
  method: string,
  body?: Readable,
): Promise<{ status: number; hash: string; bytes: number; text: string }> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  const stream = client.request({
    ':method': method,
    ':path': path,
    ':authority': host,
    authorization: headers.authorization,
    'nvcf-poll-seconds': POLL_SECONDS,
  });
  if (body) body.pipe(stream);
  else stream.end();
  const h = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
  const hash = createHash('sha256');
  let bytes = 0;
  const small: Buffer[] = [];
  for await (const c of stream) {
    hash.update(c);
    bytes += c.length;
    if (bytes < 4096) small.push(c);
  }
  client.close();
  return { status: Number(h[':status']), hash: hash.digest('hex'), bytes, text: Buffer.concat(small).toString() };
}

const results: boolean[] = [];
results.push(
  await measured(`upload (${values.h2 ? 'h2c' : 'HTTP/1.1'})`, async () => {
    if (values.h2) {
      const r = await h2Call('/upload', 'PUT', pattern(total));
      if (JSON.parse(r.text).bytes !== total) throw new Error(`upload answered ${r.text}`);
      return;
    }
    const res = await request(`http://127.0.0.1:${port}/upload`, { method: 'PUT', headers, body: pattern(total) });
    const answer = (await res.body.json()) as { bytes: number };
    if (answer.bytes !== total) throw new Error(`upload answered ${JSON.stringify(answer)}`);
  }),
);
results.push(
  await measured(`download (${values.h2 ? 'h2c' : 'HTTP/1.1'})`, async () => {
    if (values.h2) {
      const r = await h2Call(`/download?bytes=${total}`, 'GET');
      if (r.bytes !== total) throw new Error(`download got ${r.bytes} bytes`);
      return;
    }
    const res = await request(`http://127.0.0.1:${port}/download?bytes=${total}`, { headers });
    let bytes = 0;
    for await (const c of res.body) bytes += c.length;
    if (bytes !== total) throw new Error(`download got ${bytes} bytes`);
  }),
);

// Services first (and wait for them), NATS last: a worker that outlives NATS only logs retries.
const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r));
worker.kill('SIGTERM');
invocation.kill('SIGTERM');
await Promise.all([exited(worker), exited(invocation)]);
await container.stop();
await control.close();
await nc.close();
await stopAll();
process.exit(results.every(Boolean) ? 0 : 1);
