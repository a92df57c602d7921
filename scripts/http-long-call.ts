// One long-running HTTP invocation over HTTP/2 (H7), outside `npm test`: `/sleep?ms=600000` on the
// `http-echo` sample through the invocation service, with the client sending an HTTP/2 PING every
// 20 s while it waits (as the product page asks of clients). Exit 0 when the call completes with
// 200 after at least the requested time and every PING was acknowledged.
//
//   ./node_modules/.bin/node scripts/http-long-call.ts [--ms 600000] [--ping-interval-ms 20000]
//     [--url http://127.0.0.1:8080 --function-id ID --api-key KEY] [--dev-json FILE]
//
// NVCF-POLL-SECONDS is sent as the call's length plus a minute (H8/H9: without it the default
// 60 s window would turn the call into a 202).

import * as http2 from 'node:http2';
import { parseArgs } from 'node:util';
import { resolveHttpTarget } from '../bench/lib/dev-target.ts';

const USAGE = `usage: node scripts/http-long-call.ts [options]
  --ms N                 how long the container sleeps (default 600000 = 10 min)
  --ping-interval-ms N   client PING interval (default 20000)
  --poll-seconds N       NVCF-POLL-SECONDS sent (default ms/1000 + 60, at most 3600)
  --url URL --function-id ID --api-key KEY --dev-json FILE   target (default: .switchyard/dev.json)
  -h, --help`;

/** Largest NVCF-POLL-SECONDS of the contract (H8). */
const MAX_POLL_SECONDS = 3600;

function int(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new TypeError(`${name} must be an integer >= ${min}, got ${raw}`);
  return value;
}

async function main(): Promise<number> {
  let options: { ms: number; pingMs: number; pollSeconds: number; target: ReturnType<typeof resolveHttpTarget> };
  try {
    const { values } = parseArgs({
      options: {
        ms: { type: 'string' },
        'ping-interval-ms': { type: 'string' },
        'poll-seconds': { type: 'string' },
        url: { type: 'string' },
        'function-id': { type: 'string' },
        'api-key': { type: 'string' },
        'dev-json': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const ms = int('--ms', values.ms, 600_000, 0);
    options = {
      ms,
      pingMs: int('--ping-interval-ms', values['ping-interval-ms'], 20_000, 100),
      pollSeconds: int(
        '--poll-seconds',
        values['poll-seconds'],
        Math.min(MAX_POLL_SECONDS, Math.ceil(ms / 1000) + 60),
        1,
      ),
      target: resolveHttpTarget({
        devJson: values['dev-json'],
        url: values.url,
        functionId: values['function-id'],
        apiKey: values['api-key'],
      }),
    };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { ms, pingMs, pollSeconds, target } = options;
  const log = (message: string) =>
    process.stderr.write(`http-long-call: ${((performance.now() - t0) / 1000).toFixed(1)} s: ${message}\n`);
  const t0 = performance.now();
  // h2c with prior knowledge (the invocation port speaks HTTP/1.1 and h2c).
  const session = http2.connect(target.url);
  let goaway: string | undefined;
  session.on('goaway', (code) => {
    goaway = `GOAWAY ${code}`;
    log(goaway);
  });
  session.on('error', (err) => log(`session error: ${err.message}`));
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  log(`connected to ${target.url}; GET /sleep?ms=${ms} (Host ${target.host}, NVCF-POLL-SECONDS ${pollSeconds})`);

  let pings = 0;
  let pingFailures = 0;
  let maxRttMs = 0;
  const pinger = setInterval(() => {
    const ok = session.ping((err, rttMs) => {
      if (err) {
        pingFailures++;
        log(`PING failed: ${err.message}`);
        return;
      }
      pings++;
      maxRttMs = Math.max(maxRttMs, rttMs);
      log(`PING ${pings} acknowledged in ${rttMs.toFixed(2)} ms`);
    });
    if (!ok) pingFailures++;
  }, pingMs);

  const stream = session.request({
    ':method': 'GET',
    ':path': `/sleep?ms=${ms}`,
    ':authority': target.host,
    authorization: `Bearer ${target.apiKey}`,
    'nvcf-poll-seconds': String(pollSeconds),
  });
  stream.end();
  let status = 0;
  let headers: http2.IncomingHttpHeaders = {};
  let body = '';
  let failure: string | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      stream.on('response', (h) => {
        headers = h;
        status = Number(h[':status']);
        log(`response ${status}, nvcf-status ${h['nvcf-status']}, nvcf-reqid ${h['nvcf-reqid']}`);
      });
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => {
        body += d;
      });
      stream.once('end', resolve);
      stream.once('error', reject);
      stream.once('close', () => {
        if (stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR)
          reject(new Error(`stream reset with code ${stream.rstCode}`));
      });
    });
  } catch (err) {
    failure = (err as Error).message;
  }
  clearInterval(pinger);
  const elapsedMs = performance.now() - t0;
  session.close();

  const problems: string[] = [];
  if (failure) problems.push(failure);
  if (status !== 200) problems.push(`status ${status} (nvcf-status ${headers['nvcf-status']}): ${body.slice(0, 300)}`);
  let sleptMs = Number.NaN;
  try {
    sleptMs = (JSON.parse(body) as { sleptMs: number }).sleptMs;
  } catch {
    if (status === 200) problems.push(`body is not the sample's JSON: ${body.slice(0, 200)}`);
  }
  if (status === 200 && !(sleptMs >= ms - 5)) problems.push(`container slept ${sleptMs} ms, asked ${ms}`);
  if (elapsedMs < ms) problems.push(`answered after ${elapsedMs.toFixed(0)} ms, before the ${ms} ms sleep ended`);
  if (pingFailures > 0) problems.push(`${pingFailures} PINGs failed`);
  if (goaway) problems.push(`server sent ${goaway} during the call`);
  const summary = {
    ok: problems.length === 0,
    status,
    nvcfStatus: headers['nvcf-status'],
    requestedMs: ms,
    sleptMs,
    elapsedMs: Math.round(elapsedMs),
    pings,
    maxPingRttMs: Number(maxRttMs.toFixed(3)),
    problems,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return summary.ok ? 0 : 1;
}

process.exit(await main());
