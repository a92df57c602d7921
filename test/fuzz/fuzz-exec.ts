// Runs one fuzz case against the region and reports what came back: a response (status, headers), a
// stream reset, a closed connection, or nothing within the deadline. Resolves the symbolic choices
// of a case (API key, function IDs, Host) with the region's real values first.
import http2 from 'node:http2';
import net from 'node:net';
import { echoServiceDefinition } from '@switchyard/sample-functions';
import type {
  AuthChoice,
  FuzzBody,
  FuzzCase,
  FuzzMetadata,
  GarbageCase,
  H2Case,
  H2RawCase,
  HostChoice,
  Http1Case,
  IdChoice,
} from './fuzz-cases.ts';
import type { FuzzFunction, FuzzRegion } from './fuzz-region.ts';
import { exchange, Flag, FrameType, frame, frameErrorCode, headerBlock, PREFACE, settings } from './h2-frames.ts';

/** A request that answers must answer within this (ms); a connection must close within it. */
export const ANSWER_DEADLINE_MS = 5_000;

/** What a case got back. */
export type Outcome =
  | { kind: 'response'; status: number; headers: Record<string, string>; grpcStatus?: number; body: string }
  | { kind: 'reset'; code: number }
  | { kind: 'goaway'; code: number }
  | { kind: 'closed' }
  /** The client gave up by design (a body reset by the client): nothing to judge but the processes. */
  | { kind: 'abandoned' }
  /** The client library refused to send the request (not the server's doing). */
  | { kind: 'unsendable'; message: string }
  | { kind: 'timeout' };

/** Pooled HTTP/2 connections, one per lane and target; a dead one is replaced. */
export class H2Pool {
  readonly #sessions = new Map<string, http2.ClientHttp2Session>();
  readonly #region: FuzzRegion;
  constructor(region: FuzzRegion) {
    this.#region = region;
  }
  /** The open connection of `lane` to `target`'s client listener; a new one when the last one went. */
  get(target: 'grpc' | 'http', lane: number): http2.ClientHttp2Session {
    const key = `${target}/${lane}`;
    const s = this.#sessions.get(key);
    if (s && !s.closed && !s.destroyed && !(s as { fuzzGoaway?: boolean }).fuzzGoaway) return s;
    s?.destroy();
    const fresh = connectH2(this.#region.ports[target]);
    this.#sessions.set(key, fresh);
    return fresh;
  }
  /** Destroys every pooled connection. */
  close(): void {
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
  }
}

function connectH2(port: number): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => undefined);
  session.on('goaway', () => {
    (session as { fuzzGoaway?: boolean }).fuzzGoaway = true;
  });
  return session;
}

/** The function a target serves (gRPC echo on the proxy, HTTP echo on the invocation service). */
function functionOf(region: FuzzRegion, target: 'grpc' | 'http' | 'api'): FuzzFunction {
  return target === 'http' ? region.httpEcho : region.echo;
}

function authValue(region: FuzzRegion, a: AuthChoice): string | undefined {
  switch (a.kind) {
    case 'none':
      return undefined;
    case 'valid':
      return `Bearer ${region.apiKey}`;
    case 'validLowercase':
      return `bearer ${region.apiKey}`;
    case 'wrongKey':
      return `Bearer ${region.apiKey.slice(0, -4)}fuzz`;
    case 'raw':
      return a.value;
  }
}

function idValue(c: IdChoice, valid: string): string | undefined {
  return c.kind === 'none' ? undefined : c.kind === 'valid' ? valid : c.value;
}

/** The Host (`:authority`) a case sends to `port`, or undefined for none. */
export function hostValue(h: HostChoice, fn: FuzzFunction, port: number): string | undefined {
  switch (h.kind) {
    case 'function':
      return `${fn.functionId}.invocation.127.0.0.1:${port}`;
    case 'version':
      return `${fn.versionId}.${fn.functionId}.invocation.127.0.0.1:${port}`;
    case 'otherUuid':
      return `${h.value}.invocation.127.0.0.1:${port}`;
    case 'raw':
      return h.value;
    case 'none':
      return undefined;
  }
}

/** RFC 9113 §6.5.2 size of a header list. */
export function h2ListSize(fields: readonly (readonly [string, string])[]): number {
  return fields.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 32, 0);
}

/** The metadata fields of a case, resolved, padded to `md.padTo` by `sizeOf`. */
export function metadataFields(
  region: FuzzRegion,
  md: FuzzMetadata,
  fn: FuzzFunction,
  base: readonly (readonly [string, string])[],
  sizeOf: (fields: readonly (readonly [string, string])[]) => number,
): [string, string][] {
  const fields: [string, string][] = [];
  const add = (k: string, v: string | undefined) => {
    if (v !== undefined) fields.push([k, v]);
  };
  add('authorization', authValue(region, md.auth));
  add('function-id', idValue(md.functionId, fn.functionId));
  add('function-version-id', idValue(md.versionId, fn.versionId));
  add('nvcf-reqid', md.reqId.kind === 'none' ? undefined : md.reqId.value);
  const taken = new Set([...base.map(([k]) => k.toLowerCase()), ...fields.map(([k]) => k)]);
  for (const [k, v] of md.extra) {
    if (taken.has(k) || ['host', 'content-length', 'transfer-encoding', 'connection', 'te', 'upgrade'].includes(k))
      continue;
    taken.add(k);
    fields.push([k, v]);
  }
  if (md.padTo > 0) {
    const now = sizeOf([...base, ...fields, ['x-fuzz-pad', '']]);
    if (md.padTo > now) fields.push(['x-fuzz-pad', 'p'.repeat(md.padTo - now)]);
  }
  return fields;
}

/** The gRPC message bytes of a body: a 5-byte prefix announcing `declared`, then the bytes sent. */
function grpcBody(body: FuzzBody): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.declared, 1);
  return Buffer.concat([prefix, Buffer.from(body.bytes)]);
}

/** Races `work` with the answer deadline. */
async function withDeadline(work: (settle: (o: Outcome) => void) => void, cleanup: () => void): Promise<Outcome> {
  return await new Promise<Outcome>((resolve) => {
    let done = false;
    const settle = (o: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      cleanup();
      resolve(o);
    };
    const timer = setTimeout(() => settle({ kind: 'timeout' }), ANSWER_DEADLINE_MS);
    try {
      work(settle);
    } catch (err) {
      settle({ kind: 'unsendable', message: (err as Error).message });
    }
  });
}

/** The header fields an h2 case sends (pseudo-headers first), as sent. */
export function h2Fields(region: FuzzRegion, c: H2Case): [string, string][] {
  const fn = functionOf(region, c.target);
  const port = region.ports[c.target];
  const base: [string, string][] = [
    [':method', c.method],
    [':scheme', 'http'],
    [':path', c.path],
  ];
  const authority = c.target === 'http' ? hostValue(c.host, fn, port) : `127.0.0.1:${port}`;
  if (authority !== undefined && authority !== '') base.push([':authority', authority]);
  if (c.grpc) base.push(['content-type', 'application/grpc'], ['te', 'trailers']);
  return [...base, ...metadataFields(region, c.md, fn, base, h2ListSize)];
}

async function runH2(region: FuzzRegion, pool: H2Pool, lane: number, c: H2Case): Promise<Outcome> {
  const session = c.fresh ? connectH2(region.ports[c.target]) : pool.get(c.target, lane);
  const headers: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of h2Fields(region, c)) headers[k] = v;
  let req: http2.ClientHttp2Stream | undefined;
  // The pooled session's listeners of this case, removed when it settles (the pool serves thousands).
  let onGoaway: ((code: number) => void) | undefined;
  let onClose: (() => void) | undefined;
  return await withDeadline(
    (settle) => {
      let response: { status: number; headers: Record<string, string>; grpcStatus?: number } | undefined;
      const chunks: Buffer[] = [];
      onGoaway = (code: number) => {
        if (response === undefined) settle({ kind: 'goaway', code });
      };
      onClose = () => {
        if (response === undefined) settle({ kind: 'closed' });
      };
      session.once('goaway', onGoaway);
      session.once('close', onClose);
      const stream = session.request(headers, { endStream: false });
      req = stream;
      stream.on('error', () => undefined);
      const flat = (h: http2.IncomingHttpHeaders) =>
        Object.fromEntries(Object.entries(h).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]));
      stream.on('response', (h) => {
        const f = flat(h);
        response = { status: Number(f[':status']), headers: f };
        if (f['grpc-status'] !== undefined) response.grpcStatus = Number(f['grpc-status']);
      });
      stream.on('trailers', (t) => {
        const f = flat(t);
        if (response && f['grpc-status'] !== undefined) response.grpcStatus = Number(f['grpc-status']);
      });
      stream.on('data', (d: Buffer) => {
        if (chunks.length < 4) chunks.push(d);
      });
      stream.on('close', () => {
        if (response) settle({ kind: 'response', ...response, body: Buffer.concat(chunks).toString('latin1') });
        else if (c.body.end === 'reset') settle({ kind: 'abandoned' });
        else settle({ kind: 'reset', code: stream.rstCode ?? -1 });
      });
      const payload = c.grpc ? grpcBody(c.body) : Buffer.from(c.body.bytes);
      if (c.body.end === 'reset') {
        stream.write(payload, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      } else stream.end(payload);
    },
    () => {
      if (onGoaway) session.off('goaway', onGoaway);
      if (onClose) session.off('close', onClose);
      if (req && !req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
      if (c.fresh) session.close();
    },
  );
}

async function runH2Raw(region: FuzzRegion, c: H2RawCase): Promise<Outcome> {
  const fields: [Buffer, Buffer][] = c.fields.map(([k, v]) => [Buffer.from(k), Buffer.from(v)]);
  if (c.base) {
    const fn = functionOf(region, c.target);
    const port = region.ports[c.target];
    const own = new Set(fields.map(([k]) => k.toString('latin1')));
    const base: [string, string][] = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', c.target === 'grpc' ? echoServiceDefinition().Unary.path : '/echo'],
      [':authority', c.target === 'grpc' ? `127.0.0.1:${port}` : `${fn.functionId}.invocation.127.0.0.1:${port}`],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['authorization', `Bearer ${region.apiKey}`],
      ['function-id', fn.functionId],
    ];
    fields.unshift(
      ...base.filter(([k]) => !own.has(k)).map(([k, v]): [Buffer, Buffer] => [Buffer.from(k), Buffer.from(v)]),
    );
  }
  const block = headerBlock(fields);
  const request = c.base
    ? [frame(FrameType.HEADERS, Flag.END_HEADERS, 1, block), frame(FrameType.DATA, Flag.END_STREAM, 1, Buffer.alloc(5))]
    : [frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, block)];
  const x = await exchange(region.ports[c.target], [PREFACE, settings(), Buffer.concat(request)], {
    waitMs: ANSWER_DEADLINE_MS,
    until: (frames) =>
      frames.some(
        (f) =>
          f.type === FrameType.GOAWAY ||
          (f.streamId === 1 && (f.type === FrameType.HEADERS || f.type === FrameType.RST_STREAM)),
      ),
  });
  const goaway = x.frames.find((f) => f.type === FrameType.GOAWAY);
  const answer = x.frames.find(
    (f) => f.streamId === 1 && (f.type === FrameType.HEADERS || f.type === FrameType.RST_STREAM),
  );
  if (answer?.type === FrameType.HEADERS) return { kind: 'response', status: 0, headers: {}, body: '' };
  if (answer) return { kind: 'reset', code: frameErrorCode(answer) };
  if (goaway) return { kind: 'goaway', code: frameErrorCode(goaway) };
  return x.closed ? { kind: 'closed' } : { kind: 'timeout' };
}

/** HTTP/1.1 size of header fields (`name: value\r\n`). */
export function h1ListSize(fields: readonly (readonly [string, string])[]): number {
  return fields.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 4, 0);
}

/** The raw bytes of an HTTP/1.1 case. */
export function http1Bytes(region: FuzzRegion, c: Http1Case): Buffer {
  const fn = functionOf(region, c.target);
  const port = region.ports[c.target];
  const base: [string, string][] = [];
  const host = c.target === 'http' ? hostValue(c.host, fn, port) : `127.0.0.1:${port}`;
  if (host !== undefined) base.push(['Host', host]);
  base.push(['Content-Length', String(c.body.declared)], ['Connection', 'close']);
  const fields = [...base, ...metadataFields(region, c.md, fn, base, h1ListSize)];
  const head = `${c.method} ${c.path} HTTP/1.1\r\n${fields.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(c.body.bytes)]);
}

/** Reads an HTTP/1.1 response head from `text`; undefined until complete. */
function parseHead(text: string): { status: number; headers: Record<string, string>; rest: string } | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [line, ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(line);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { status: m ? Number(m[1]) : -1, headers, rest: text.slice(end + 4) };
}

async function runHttp1(region: FuzzRegion, c: Http1Case): Promise<Outcome> {
  const bytes = http1Bytes(region, c);
  const socket = net.connect(region.ports[c.target], '127.0.0.1');
  socket.setNoDelay(true);
  return await withDeadline(
    (settle) => {
      let text = '';
      let head: ReturnType<typeof parseHead>;
      const done = () => {
        if (!head) return settle({ kind: 'closed' });
        settle({ kind: 'response', status: head.status, headers: head.headers, body: head.rest });
      };
      socket.on('error', () => undefined);
      socket.on('close', () => (c.body.end === 'reset' && !head ? settle({ kind: 'abandoned' }) : done()));
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        head ??= parseHead(text);
        if (head) {
          head.rest = parseHead(text)?.rest ?? head.rest;
          // Enough once the body of a problem document is in (Connection: close ends the rest).
          const len = Number(head.headers['content-length'] ?? Number.NaN);
          if (Number.isFinite(len) && Buffer.byteLength(head.rest, 'latin1') >= len) done();
        }
      });
      socket.once('connect', async () => {
        const cuts = [...new Set(c.splits.filter((s) => s < bytes.length))].sort((a, b) => a - b);
        let at = 0;
        for (const cut of [...cuts, bytes.length]) {
          if (socket.destroyed) return;
          socket.write(bytes.subarray(at, cut));
          at = cut;
          if (cut < bytes.length) await new Promise((r) => setTimeout(r, 20));
        }
        // A cut-short body ends with FIN (node's HTTP/1.1 server then drops the request, as a client
        // abort: closing is an answer); a complete one waits for the answer (Connection: close).
        if (c.body.end === 'reset') socket.destroy();
        else if (c.body.declared > c.body.bytes.length) socket.end();
      });
    },
    () => socket.destroy(),
  );
}

async function runGarbage(region: FuzzRegion, c: GarbageCase): Promise<Outcome> {
  const socket = net.connect(region.ports[c.listener], '127.0.0.1');
  return await withDeadline(
    (settle) => {
      socket.on('error', () => undefined);
      socket.on('close', () => settle({ kind: 'closed' }));
      socket.resume();
      socket.once('connect', () => {
        socket.write(Buffer.concat([Buffer.from(c.prefix, 'latin1'), Buffer.from(c.bytes)]));
        if (c.halfClose) socket.end();
      });
    },
    () => socket.destroy(),
  );
}

/** Runs one case; `lane` picks the pooled connection of pooled h2 cases. */
export async function runCase(region: FuzzRegion, pool: H2Pool, lane: number, c: FuzzCase): Promise<Outcome> {
  switch (c.kind) {
    case 'h2':
      return await runH2(region, pool, lane, c);
    case 'h2raw':
      return await runH2Raw(region, c);
    case 'http1':
      return await runHttp1(region, c);
    case 'garbage':
      return await runGarbage(region, c);
  }
}
