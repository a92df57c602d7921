// Soak test of HTTP invocation against a running dev stack (not part of `npm test`): for --minutes
// (default 10) it keeps mixed traffic going through the invocation service to the `http-echo` sample
// (small POSTs to /echo, 100 MiB uploads to /upload, SSE chat streams, clients that disconnect
// mid-request), checks every answer, and samples the RSS of the invocation service and the worker
// every 10 s to say whether memory stays flat (the last minute against the first minute after a
// warm-up, 2 minutes by default: the services' RSS climbs while their pools, heaps and caches fill).
//
//   ./node_modules/.bin/node scripts/soak-http.ts [--minutes 10] [--url http://127.0.0.1:8080
//     --function-id ID --api-key KEY] [--pids invocation=PID,worker=PID] [--dev-json FILE]
//
// Without flags everything comes from .switchyard/dev.json (endpoints.http, functions['http-echo'],
// apiKey, pids). Exit code 0 when no request was lost or answered wrongly and RSS stayed flat.

import { createHash, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';
import { patternChunks, planChatCompletion, readSseEvents } from '@switchyard/sample-functions';
import { type HttpTarget, resolveHttpTarget } from '../bench/lib/dev-target.ts';
import { rssBytes } from '../bench/lib/proc-stat.ts';
import { fmt, markdownTable, writeResultFile } from '../bench/lib/report.ts';

const USAGE = `usage: node scripts/soak-http.ts [options]
  --minutes N            how long to run (default 10)
  --url URL              invocation endpoint (default: endpoints.http of dev.json)
  --function-id ID       function to call (default: functions['http-echo'] of dev.json)
  --api-key KEY          API key (default: apiKey of dev.json)
  --pids LIST            processes to watch, name=pid,... (default: invocation and worker-http-echo of dev.json)
  --dev-json FILE        dev stack state (default .switchyard/dev.json)
  --upload-mib N         size of each upload (default 100)
  --echo-lanes N         concurrent small-POST loops (default 4)
  --upload-lanes N       concurrent upload loops (default 1)
  --sse-lanes N          concurrent SSE loops (default 2)
  --disconnect-lanes N   concurrent loops of clients that go away mid-request (default 2)
  --sample-s N           RSS sampling interval, seconds (default 10)
  --warmup-minutes N     minutes of warm-up before the RSS baseline minute (default 2)
  --rss-tolerance-pct N  last-minute RSS may exceed the baseline minute's by this much (default 20) ...
  --rss-slack-mib N      ... or by this many MiB, whichever is larger (default 16)
  -h, --help`;

const MIB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** A request that has not finished after this is counted as lost, in ms. */
const REQUEST_TIMEOUT_MS = 300_000;
const SSE_TOKENS = 50;
const SSE_DELAY_MS = 20;

/** Resolved options. */
interface SoakConfig {
  minutes: number;
  uploadBytes: number;
  lanes: { echo: number; upload: number; sse: number; disconnect: number };
  sampleMs: number;
  rssTolerancePct: number;
  /** Minutes of warm-up; the RSS baseline is the minute after them. */
  warmupMinutes: number;
  rssSlackBytes: number;
  target: HttpTarget;
}

type Kind = 'echo' | 'upload' | 'sse' | 'disconnect';

/** Outcome counts of one kind of traffic. */
interface Tally {
  started: number;
  ok: number;
  /** Answered, but not what the request asked for. */
  wrong: number;
  /** No answer, a socket error, a non-2xx status or a timeout. */
  failed: number;
  bytesSent: number;
  examples: string[];
}

function int(name: string, raw: string | undefined, fallback: number, min = 0): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new TypeError(`${name} must be an integer >= ${min}, got ${raw}`);
  return value;
}

function parse(argv: string[]): SoakConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      url: { type: 'string' },
      'function-id': { type: 'string' },
      'api-key': { type: 'string' },
      pids: { type: 'string' },
      'dev-json': { type: 'string' },
      'upload-mib': { type: 'string' },
      'echo-lanes': { type: 'string' },
      'upload-lanes': { type: 'string' },
      'sse-lanes': { type: 'string' },
      'disconnect-lanes': { type: 'string' },
      'sample-s': { type: 'string' },
      'rss-tolerance-pct': { type: 'string' },
      'warmup-minutes': { type: 'string' },
      'rss-slack-mib': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const minutes = Number(values.minutes ?? '10');
  if (!(minutes > 0)) throw new TypeError(`--minutes must be > 0, got ${values.minutes}`);
  return {
    minutes,
    uploadBytes: int('--upload-mib', values['upload-mib'], 100, 1) * MIB,
    lanes: {
      echo: int('--echo-lanes', values['echo-lanes'], 4),
      upload: int('--upload-lanes', values['upload-lanes'], 1),
      sse: int('--sse-lanes', values['sse-lanes'], 2),
      disconnect: int('--disconnect-lanes', values['disconnect-lanes'], 2),
    },
    sampleMs: int('--sample-s', values['sample-s'], 10, 1) * 1000,
    rssTolerancePct: int('--rss-tolerance-pct', values['rss-tolerance-pct'], 20),
    warmupMinutes: int('--warmup-minutes', values['warmup-minutes'], 2),
    rssSlackBytes: int('--rss-slack-mib', values['rss-slack-mib'], 16) * MIB,
    target: resolveHttpTarget({
      devJson: values['dev-json'],
      url: values.url,
      functionId: values['function-id'],
      apiKey: values['api-key'],
      pids: values.pids,
    }),
  };
}

/** Thrown for an answer that arrived but is wrong (as opposed to no answer at all). */
class WrongAnswer extends Error {
  override name = 'WrongAnswer';
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** Sends a request through the invocation service; the body may be chunks written with backpressure. */
class Client {
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  readonly #url: URL;
  readonly #target: HttpTarget;

  constructor(target: HttpTarget) {
    this.#target = target;
    this.#url = new URL(target.url);
  }

  /** Opens a request; the caller writes the body and reads the response. */
  open(method: string, path: string, headers: http.OutgoingHttpHeaders = {}): http.ClientRequest {
    const req = http.request({
      host: this.#url.hostname,
      port: this.#url.port || 80,
      path,
      method,
      agent: this.agent,
      headers: { host: this.#target.host, authorization: `Bearer ${this.#target.apiKey}`, ...headers },
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no progress for ${REQUEST_TIMEOUT_MS} ms`)));
    return req;
  }

  /** Sends a whole request and resolves with the whole response. */
  async send(
    method: string,
    path: string,
    headers: http.OutgoingHttpHeaders,
    body: string | Buffer | Iterable<Buffer> | undefined,
    onSent?: (bytes: number) => void,
  ): Promise<Answer> {
    const req = this.open(method, path, headers);
    const response = responseOf(req);
    await writeBody(req, body, onSent);
    const res = await response;
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) };
  }
}

function responseOf(req: http.ClientRequest): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
}

async function writeBody(
  req: http.ClientRequest,
  body: string | Buffer | Iterable<Buffer> | undefined,
  onSent?: (bytes: number) => void,
): Promise<void> {
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
    req.end(body);
    return;
  }
  let sent = 0;
  for (const chunk of body) {
    if (req.destroyed) return;
    sent += chunk.length;
    if (!req.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          req.off('drain', done);
          req.off('close', done);
          resolve();
        };
        req.once('drain', done);
        req.once('close', done);
      });
    }
    onSent?.(sent);
  }
  req.end();
}

// biome-ignore lint/suspicious/noExplicitAny: JSON of several response shapes, checked field by field by the callers
function json(answer: Answer): Record<string, any> {
  try {
    return JSON.parse(answer.body.toString('utf8'));
  } catch {
    throw new WrongAnswer(`status ${answer.status}, body is not JSON: ${answer.body.toString('utf8').slice(0, 200)}`);
  }
}

function expectOk(answer: Answer): void {
  if (answer.status !== 200)
    throw new Error(
      `status ${answer.status} (${answer.headers['nvcf-status']}): ${answer.body.toString().slice(0, 300)}`,
    );
  const reqId = answer.headers['nvcf-reqid'];
  if (typeof reqId !== 'string' || !UUID.test(reqId)) throw new WrongAnswer(`nvcf-reqid ${reqId}`);
  if (answer.headers['nvcf-status'] !== 'fulfilled')
    throw new WrongAnswer(`nvcf-status ${answer.headers['nvcf-status']}`);
}

async function echoOnce(client: Client, i: number): Promise<number> {
  const body = JSON.stringify({ soak: i, nonce: randomUUID() });
  const answer = await client.send('POST', `/echo?soak=${i}`, { 'content-type': 'application/json' }, body);
  expectOk(answer);
  const echo = json(answer);
  if (echo.body !== body) throw new WrongAnswer(`echoed body ${String(echo.body).slice(0, 100)} for ${body}`);
  if (echo.query?.soak !== String(i)) throw new WrongAnswer(`echoed query ${JSON.stringify(echo.query)}`);
  if (echo.headers?.['nvcf-reqid'] !== answer.headers['nvcf-reqid'])
    throw new WrongAnswer(
      `container saw nvcf-reqid ${echo.headers?.['nvcf-reqid']}, client got ${answer.headers['nvcf-reqid']}`,
    );
  if (echo.headers?.authorization !== undefined) throw new WrongAnswer('container received Authorization');
  return body.length;
}

/** Pattern chunks that also feed `hash`, so the expected digest costs no second pass. */
function* hashed(bytes: number, seed: number, hash: ReturnType<typeof createHash>): Generator<Buffer> {
  for (const chunk of patternChunks(bytes, seed)) {
    hash.update(chunk);
    yield chunk;
  }
}

async function uploadOnce(client: Client, i: number, bytes: number): Promise<number> {
  const seed = i + 1;
  const hash = createHash('sha256');
  if (i % 2 === 0) {
    const answer = await client.send(
      'PUT',
      `/upload?soak=${i}`,
      { 'content-type': 'application/octet-stream', 'content-length': bytes },
      hashed(bytes, seed, hash),
    );
    expectOk(answer);
    const result = json(answer);
    const expected = hash.digest('hex');
    if (result.bytes !== bytes || result.sha256 !== expected)
      throw new WrongAnswer(`upload ${i}: got ${result.bytes} B ${result.sha256}, sent ${bytes} B ${expected}`);
    return bytes;
  }
  const boundary = `soak-${randomUUID()}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n${i}\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="soak-${i}.bin"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const answer = await client.send(
    'POST',
    `/upload?soak=${i}`,
    {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': head.length + bytes + tail.length,
    },
    (function* () {
      yield head;
      yield* hashed(bytes, seed, hash);
      yield tail;
    })(),
  );
  expectOk(answer);
  const result = json(answer);
  const expected = hash.digest('hex');
  const file = result.parts?.find((p: { name: string }) => p.name === 'file');
  const metadata = result.parts?.find((p: { name: string }) => p.name === 'metadata');
  if (file?.bytes !== bytes || file?.sha256 !== expected || metadata?.bytes !== String(i).length)
    throw new WrongAnswer(
      `multipart upload ${i}: parts ${JSON.stringify(result.parts)}, sent file ${bytes} B ${expected}`,
    );
  return bytes + head.length + tail.length;
}

async function sseOnce(client: Client, i: number): Promise<number> {
  const request = {
    model: 'soak',
    messages: [{ role: 'user', content: `soak stream ${i} says hello` }],
    stream: true,
    max_tokens: SSE_TOKENS,
  };
  const expected = planChatCompletion(request).tokens.join('');
  const req = client.open('POST', '/v1/chat/completions', {
    'content-type': 'application/json',
    accept: 'text/event-stream',
    'x-sample-delay-ms': String(SSE_DELAY_MS),
  });
  const response = responseOf(req);
  const body = JSON.stringify(request);
  req.end(body);
  const res = await response;
  if (res.statusCode !== 200) {
    res.resume();
    throw new Error(`SSE status ${res.statusCode}`);
  }
  if (!String(res.headers['content-type']).startsWith('text/event-stream'))
    throw new WrongAnswer(`SSE content-type ${res.headers['content-type']}`);
  let text = '';
  let chunks = 0;
  let done = false;
  for await (const event of readSseEvents(res)) {
    if (event.data === '[DONE]') {
      done = true;
      continue;
    }
    const chunk = JSON.parse(event.data);
    text += chunk.choices?.[0]?.delta?.content ?? '';
    chunks++;
  }
  if (!done || chunks !== SSE_TOKENS + 1 || text !== expected)
    throw new WrongAnswer(`SSE ${i}: ${chunks} chunks, [DONE] ${done}, text ${text === expected ? 'ok' : 'differs'}`);
  return body.length;
}

/** A client that goes away mid-request: during a sleep, mid-stream, or mid-upload. */
async function disconnectOnce(client: Client, i: number, uploadBytes: number): Promise<number> {
  const kind = i % 3;
  if (kind === 0) {
    const req = client.open('GET', `/sleep?ms=10000&soak=${i}`);
    const response = responseOf(req);
    req.end();
    const early = await Promise.race([
      response.then((res) => `answered ${res.statusCode} before the client left`),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 100 + (i % 5) * 100)),
    ]);
    req.destroy();
    response.catch(() => undefined);
    if (early) throw new WrongAnswer(early);
    return 0;
  }
  if (kind === 1) {
    const req = client.open('POST', '/v1/chat/completions', {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'x-sample-delay-ms': String(SSE_DELAY_MS),
    });
    const response = responseOf(req);
    req.end(JSON.stringify({ stream: true, max_tokens: 1000, messages: [{ role: 'user', content: 'leave early' }] }));
    const res = await response;
    if (res.statusCode !== 200) throw new Error(`SSE status ${res.statusCode}`);
    let events = 0;
    for await (const _ of readSseEvents(res)) if (++events >= 5) break; // break destroys the response
    req.destroy();
    return 0;
  }
  // Upload cut off after a tenth of its body.
  const req = client.open('PUT', `/upload?soak=${i}&cut=1`, {
    'content-type': 'application/octet-stream',
    'content-length': uploadBytes,
  });
  const response = responseOf(req);
  response.catch(() => undefined);
  let sent = 0;
  await writeBody(
    req,
    (function* () {
      for (const chunk of patternChunks(uploadBytes, i)) {
        if (sent >= uploadBytes / 10) return;
        yield chunk;
      }
    })(),
    (n) => {
      sent = n;
    },
  ).catch(() => undefined);
  req.destroy();
  return sent;
}

/** RSS samples of the watched processes. */
interface RssSeries {
  name: string;
  pid: number;
  samples: { tS: number; bytes: number }[];
}

/** Flatness of one process: mean RSS of the first minute after the warm-up vs the last minute. */
interface RssVerdict {
  name: string;
  pid: number;
  baselineMinuteMiB: number;
  /** Mean RSS of each whole minute, in MiB. */
  perMinuteMiB: number[];
  lastMinuteMiB: number;
  maxMiB: number;
  growthMiB: number;
  allowedMiB: number;
  verdict: 'flat' | 'GROWING' | 'n/a';
  note?: string;
}

function rssVerdict(series: RssSeries, config: SoakConfig, elapsedS: number): RssVerdict {
  const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  const live = series.samples.filter((s) => s.bytes > 0);
  const from = config.warmupMinutes * 60;
  const first = mean(live.filter((s) => s.tS >= from && s.tS < from + 60).map((s) => s.bytes));
  const perMinuteMiB = Array.from({ length: Math.floor(elapsedS / 60) }, (_, m) =>
    mean(live.filter((s) => s.tS >= m * 60 && s.tS < (m + 1) * 60).map((s) => s.bytes / MIB)),
  );
  const last = mean(live.filter((s) => s.tS >= elapsedS - 60).map((s) => s.bytes));
  const max = Math.max(...live.map((s) => s.bytes), 0);
  const allowed = Math.max((first * config.rssTolerancePct) / 100, config.rssSlackBytes);
  const base = {
    name: series.name,
    pid: series.pid,
    baselineMinuteMiB: first / MIB,
    perMinuteMiB,
    lastMinuteMiB: last / MIB,
    maxMiB: max / MIB,
    growthMiB: (last - first) / MIB,
    allowedMiB: allowed / MIB,
  };
  if (live.length < series.samples.length) return { ...base, verdict: 'GROWING', note: 'process went away' };
  if (elapsedS < from + 120)
    return {
      ...base,
      verdict: 'n/a',
      note: `needs >= ${config.warmupMinutes + 2} minutes (warm-up, baseline and last minute)`,
    };
  return { ...base, verdict: last - first <= allowed ? 'flat' : 'GROWING' };
}

async function main(): Promise<number> {
  let config: SoakConfig | undefined;
  try {
    config = parse(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (config === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { target } = config;
  const client = new Client(target);
  const startedAt = new Date();
  const t0 = performance.now();
  const elapsedS = () => (performance.now() - t0) / 1000;
  const deadline = t0 + config.minutes * 60_000;
  process.stderr.write(
    `soak-http: ${config.minutes} min against ${target.url} (Host ${target.host}; from ${target.source}); lanes ${JSON.stringify(config.lanes)}; watching ${JSON.stringify(target.pids)}\n`,
  );

  // The target must answer before the clock starts.
  await echoOnce(client, -1);

  const tallies: Record<Kind, Tally> = {
    echo: { started: 0, ok: 0, wrong: 0, failed: 0, bytesSent: 0, examples: [] },
    upload: { started: 0, ok: 0, wrong: 0, failed: 0, bytesSent: 0, examples: [] },
    sse: { started: 0, ok: 0, wrong: 0, failed: 0, bytesSent: 0, examples: [] },
    disconnect: { started: 0, ok: 0, wrong: 0, failed: 0, bytesSent: 0, examples: [] },
  };
  let sequence = 0;
  const lane = async (kind: Kind, once: (i: number) => Promise<number>) => {
    while (performance.now() < deadline) {
      const i = sequence++;
      const tally = tallies[kind];
      tally.started++;
      try {
        tally.bytesSent += await once(i);
        tally.ok++;
      } catch (err) {
        const wrong = err instanceof WrongAnswer;
        if (wrong) tally.wrong++;
        else tally.failed++;
        const message = `${wrong ? 'wrong' : 'failed'} #${i} at ${elapsedS().toFixed(1)} s: ${(err as Error).message}`;
        if (tally.examples.length < 5) tally.examples.push(message);
        process.stderr.write(`soak-http: ${kind} ${message}\n`);
      }
    }
  };

  const series: RssSeries[] = Object.entries(target.pids).map(([name, pid]) => ({ name, pid, samples: [] }));
  const sample = () => {
    const tS = elapsedS();
    for (const s of series) s.samples.push({ tS, bytes: rssBytes(s.pid) });
    const rss = series.map((s) => `${s.name} ${fmt((s.samples.at(-1)?.bytes ?? 0) / MIB, 1)} MiB`).join(', ');
    const counts = (Object.keys(tallies) as Kind[])
      .map(
        (k) =>
          `${k} ${tallies[k].ok}/${tallies[k].started}${tallies[k].wrong + tallies[k].failed > 0 ? ` (${tallies[k].wrong} wrong, ${tallies[k].failed} failed)` : ''}`,
      )
      .join(', ');
    process.stderr.write(`soak-http: ${tS.toFixed(0)} s: ${counts}${rss ? `; RSS ${rss}` : ''}\n`);
  };
  sample();
  const sampler = setInterval(sample, config.sampleMs);
  const lanes: Promise<void>[] = [];
  for (let n = 0; n < config.lanes.echo; n++) lanes.push(lane('echo', (i) => echoOnce(client, i)));
  for (let n = 0; n < config.lanes.upload; n++)
    lanes.push(lane('upload', (i) => uploadOnce(client, i, config.uploadBytes)));
  for (let n = 0; n < config.lanes.sse; n++) lanes.push(lane('sse', (i) => sseOnce(client, i)));
  for (let n = 0; n < config.lanes.disconnect; n++)
    lanes.push(
      lane('disconnect', async (i) => {
        const sent = await disconnectOnce(client, i, config.uploadBytes);
        // The stack must still answer right after a client left.
        await echoOnce(client, i);
        return sent;
      }),
    );
  await Promise.all(lanes);
  clearInterval(sampler);
  sample();
  client.agent.destroy();

  const elapsed = elapsedS();
  const verdicts = series.map((s) => rssVerdict(s, config, elapsed));
  const lost = Object.values(tallies).reduce((a, t) => a + t.failed, 0);
  const wrong = Object.values(tallies).reduce((a, t) => a + t.wrong, 0);
  const rssOk = verdicts.every((v) => v.verdict !== 'GROWING');
  const out = [
    `### HTTP soak: ${fmt(elapsed / 60, 1)} min against ${target.url}, lanes ${Object.entries(config.lanes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}, uploads ${config.uploadBytes / MIB} MiB`,
    '',
    markdownTable(
      ['traffic', 'started', 'ok', 'wrong', 'failed/lost', 'sent MiB', 'first problems'],
      (Object.keys(tallies) as Kind[]).map((k) => [
        k,
        fmt(tallies[k].started),
        fmt(tallies[k].ok),
        fmt(tallies[k].wrong),
        fmt(tallies[k].failed),
        fmt(tallies[k].bytesSent / MIB, 1),
        tallies[k].examples
          .slice(0, 2)
          .map((e) => (e.length > 140 ? `${e.slice(0, 140)}...` : e))
          .join(' / ') || '-',
      ]),
    ),
    '',
    verdicts.length === 0
      ? 'RSS: no pids to watch (pass --pids or run the dev stack that writes them to dev.json)'
      : markdownTable(
          ['process', 'pid', 'baseline minute MiB', 'last minute MiB', 'max MiB', 'growth MiB', 'allowed MiB', 'RSS'],
          verdicts.map((v) => [
            v.name,
            String(v.pid),
            fmt(v.baselineMinuteMiB, 1),
            fmt(v.lastMinuteMiB, 1),
            fmt(v.maxMiB, 1),
            fmt(v.growthMiB, 1),
            fmt(v.allowedMiB, 1),
            v.note ? `${v.verdict} (${v.note})` : v.verdict,
          ]),
        ),
    '',
    ...verdicts.map((v) => `RSS per minute, ${v.name}: ${v.perMinuteMiB.map((m) => fmt(m, 0)).join(', ')} MiB`),
    `(baseline: minute ${config.warmupMinutes + 1}, after ${config.warmupMinutes} minutes of warm-up)`,
    '',
    `verdict: ${lost === 0 && wrong === 0 ? 'no request lost or answered wrongly' : `${lost} lost, ${wrong} answered wrongly`}; RSS ${rssOk ? 'flat' : 'GROWING'}`,
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  const file = writeResultFile(
    'soak-http',
    { startedAt: startedAt.toISOString(), elapsedS: elapsed, config, tallies, rss: series, verdicts },
    startedAt,
  );
  process.stdout.write(`\nresults: ${file}\n`);
  return lost === 0 && wrong === 0 && rssOk ? 0 : 1;
}

process.exit(await main());
