// Memory bench client child: holds many idle HTTP/2 connections to one target and, on command,
// makes one unary Echo call on some of them (allocating a Switchyard session each), then leaves
// them idle. Commands are JSON lines on stdin, answers JSON lines on stdout:
//   {"cmd":"open","count":N}              -> {"opened":total}
//   {"cmd":"call","from":I,"count":N,"headers":{...}?,"expect":"0"|"nonzero"?}
//                                         -> {"called":n,"failed":k,"errors":[...]}
//      one call on each of connections I..I+N-1; `headers` replace the --headers ones; a call
//      fails when its grpc-status is not `expect` (default "0")
//   {"cmd":"close"}                       -> {"closed":total}, then exit
// Usage: conn-holder.ts --port P [--headers JSON] [--parallel 200]

import http2 from 'node:http2';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { encodeEchoRequest, grpcFrame, patternPayload } from './grpc-frame.ts';

const UNARY_PATH = '/switchyard.echo.v1.Echo/Unary';

const { values } = parseArgs({
  options: { port: { type: 'string' }, headers: { type: 'string' }, parallel: { type: 'string' } },
});
const authority = `http://127.0.0.1:${values.port}`;
const extraHeaders = JSON.parse(values.headers ?? '{}') as Record<string, string>;
const parallel = Number(values.parallel ?? 200);
const body = grpcFrame(encodeEchoRequest(patternPayload(100)));
const sessions: http2.ClientHttp2Session[] = [];

function emit(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function openOne(): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(authority);
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
    session.on('error', () => {});
    session.on('goaway', () => {});
    sessions.push(session);
  });
}

function callOne(
  session: http2.ClientHttp2Session,
  headers: Record<string, string>,
  expect: string,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': UNARY_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...headers,
    });
    let status: string | undefined;
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) status = String(headers['grpc-status']);
    });
    stream.on('trailers', (trailers) => {
      status = String(trailers['grpc-status']);
    });
    stream.on('data', () => {});
    stream.on('error', (err) => resolve(`stream error: ${err.message}`));
    stream.on('close', () => {
      const ok = expect === 'nonzero' ? status !== undefined && status !== '0' : status === expect;
      resolve(ok ? undefined : `grpc-status ${status}`);
    });
    stream.end(body);
  });
}

/** Runs `task(i)` for i in [from, to) with at most `parallel` at once. */
async function pool<T>(from: number, to: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = from;
  const lane = async () => {
    while (next < to) {
      const i = next++;
      results.push(await task(i));
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  return results;
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const command = JSON.parse(line) as {
    cmd: string;
    from?: number;
    count?: number;
    headers?: Record<string, string>;
    expect?: string;
  };
  try {
    if (command.cmd === 'open') {
      const from = sessions.length;
      await pool(from, from + (command.count ?? 0), () => openOne());
      emit({ opened: sessions.length });
    } else if (command.cmd === 'call') {
      const from = command.from ?? 0;
      const to = Math.min(sessions.length, from + (command.count ?? 0));
      const headers = command.headers ?? extraHeaders;
      const expect = command.expect ?? '0';
      const outcomes = await pool(from, to, (i) => callOne(sessions[i] as http2.ClientHttp2Session, headers, expect));
      const errors = outcomes.filter((o): o is string => o !== undefined);
      emit({ called: to - from, failed: errors.length, errors: [...new Set(errors)].slice(0, 5) });
    } else if (command.cmd === 'close') {
      for (const s of sessions) s.destroy();
      emit({ closed: sessions.length });
      process.exit(0);
    }
  } catch (err) {
    emit({ error: err instanceof Error ? err.message : String(err) });
  }
}
