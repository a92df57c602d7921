// The HTTP sample function container (node:http, HTTP/1.1): echo, streaming upload digests, large
// downloads, an OpenAI-compatible chat completion that streams SSE slowly, sleeps and chosen
// statuses. Bodies are streamed, never kept whole beyond small, bounded JSON and echo bodies.

import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type * as net from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { chatCompletionChunk, chatCompletionJson, planChatCompletion } from './http-chat.ts';
import { MultipartError, MultipartHasher, type MultipartPartSummary, multipartBoundary } from './http-multipart.ts';
import { patternChunks } from './http-pattern.ts';
import {
  resolveServerConfig,
  type SampleServerConfig,
  type SampleServerHandle,
  type SampleServerOptions,
} from './server-handle.ts';

/** Response header naming the container instance that answered (on every response). */
export const INSTANCE_ID_HEADER = 'x-instance-id';
/** Request header that overrides the SSE delay between events, in ms (query `delay_ms` too). */
export const SSE_DELAY_HEADER = 'x-sample-delay-ms';
/** Delay between SSE events when the request sets none, in ms. */
export const DEFAULT_SSE_DELAY_MS = 50;
/** Largest SSE delay accepted, in ms. */
export const MAX_SSE_DELAY_MS = 60_000;
/** Body bytes `/echo` returns; beyond this it counts and hashes the rest and sets `bodyTruncated`. */
export const ECHO_BODY_LIMIT_BYTES = 1024 * 1024;
/** Largest JSON body `/v1/chat/completions` reads, in bytes (more is 413). */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;
/** Largest `/sleep?ms=`, in ms (24 h). */
export const MAX_SLEEP_MS = 24 * 60 * 60 * 1000;
/** Idle keep-alive time of client connections, in ms (longer than common proxy pools' idle). */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** The paths the HTTP sample serves. */
export const HttpSampleRoutes = {
  echo: '/echo',
  upload: '/upload',
  download: '/download',
  chatCompletions: '/v1/chat/completions',
  sleep: '/sleep',
  status: '/status',
} as const;

/** What `/echo` answers (JSON). */
export interface HttpEchoResponse {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query parameters; a repeated name gives an array. */
  query: Record<string, string | string[]>;
  /** Request headers as Node received them (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  /** The body (first ECHO_BODY_LIMIT_BYTES bytes): UTF-8 text, or base64 when not valid UTF-8. */
  body: string;
  bodyEncoding: 'utf8' | 'base64';
  /** Size of the whole body, in bytes. */
  bodyBytes: number;
  /** SHA-256 of the whole body, hex. */
  bodySha256: string;
  /** True when the body was longer than ECHO_BODY_LIMIT_BYTES and `body` holds only its start. */
  bodyTruncated: boolean;
  instanceId: string;
}

/** What `/upload` answers (JSON). */
export interface HttpUploadResponse {
  /** SHA-256 of the raw request body (for multipart: the whole encoded body), hex. */
  sha256: string;
  /** Size of the raw request body, in bytes. */
  bytes: number;
  contentType: string | null;
  /** One entry per part when the body is multipart. */
  parts?: MultipartPartSummary[];
  instanceId: string;
}

type Req = http.IncomingMessage;
type Res = http.ServerResponse;

function sendJson(res: Res, status: number, value: unknown, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...extraHeaders,
  });
  res.end(body);
}

/** Answers an error and closes the connection (the request body may be unread). */
function sendError(res: Res, status: number, error: string, extraHeaders: Record<string, string> = {}): void {
  sendJson(res, status, { error }, { connection: 'close', ...extraHeaders });
}

function parseQuery(search: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (search === '') return out;
  for (const [key, value] of new URLSearchParams(search)) {
    const seen = out[key];
    if (seen === undefined) out[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[key] = [seen, value];
  }
  return out;
}

/** An integer query parameter within [min, max]; `fallback` when absent; undefined when invalid. */
function intParam(raw: string | null | undefined, min: number, max: number, fallback?: number): number | undefined {
  if (raw === null || raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) return undefined;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
}

/** Reads a body of at most `limit` bytes; resolves undefined (and stops reading) when it is larger. */
function readSmallBody(req: Req, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limit) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, bytes)));
    req.once('error', reject);
  });
}

function wantsEventStream(req: Req): boolean {
  return (req.headers.accept ?? '').includes('text/event-stream');
}

function handleEcho(req: Req, res: Res, search: string, path: string, config: SampleServerConfig): void {
  if (wantsEventStream(req) && req.method === 'POST') {
    // The product page's streaming example posts a chat body to /echo with Accept: text/event-stream.
    void handleChat(req, res, search, true);
    return;
  }
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  let bytes = 0;
  let kept = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
    if (kept < ECHO_BODY_LIMIT_BYTES) {
      const take =
        chunk.length <= ECHO_BODY_LIMIT_BYTES - kept ? chunk : chunk.subarray(0, ECHO_BODY_LIMIT_BYTES - kept);
      chunks.push(take);
      kept += take.length;
    }
  });
  req.once('end', () => {
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, kept);
    const utf8 = isUtf8(body);
    const echo: HttpEchoResponse = {
      method: req.method ?? 'GET',
      path,
      query: parseQuery(search),
      headers: req.headers,
      body: body.toString(utf8 ? 'utf8' : 'base64'),
      bodyEncoding: utf8 ? 'utf8' : 'base64',
      bodyBytes: bytes,
      bodySha256: hash.digest('hex'),
      bodyTruncated: bytes > kept,
      instanceId: config.instanceId,
    };
    sendJson(res, 200, echo);
  });
}

async function handleUpload(req: Req, res: Res, config: SampleServerConfig): Promise<void> {
  if (req.method !== 'POST' && req.method !== 'PUT') {
    sendError(res, 405, 'use POST or PUT', { allow: 'POST, PUT' });
    return;
  }
  const contentType = req.headers['content-type'];
  const boundary = multipartBoundary(contentType);
  if (contentType !== undefined && /^\s*multipart\//i.test(contentType) && boundary === undefined) {
    sendError(res, 400, 'multipart content-type without a valid boundary');
    return;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const multipart = boundary === undefined ? undefined : new MultipartHasher(boundary);
  const sink =
    multipart ??
    new Writable({
      write(_chunk, _encoding, callback) {
        callback();
      },
    });
  try {
    await pipeline(
      req,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          bytes += chunk.length;
          yield chunk;
        }
      },
      sink,
    );
  } catch (err) {
    if (err instanceof MultipartError) sendError(res, 400, err.message);
    // Otherwise the client went away mid-body: nobody to answer.
    else if (!req.destroyed) sendError(res, 400, 'request body failed');
    return;
  }
  const answer: HttpUploadResponse = {
    sha256: hash.digest('hex'),
    bytes,
    contentType: contentType ?? null,
    instanceId: config.instanceId,
  };
  if (multipart) answer.parts = multipart.parts;
  sendJson(res, 200, answer);
}

function handleDownload(req: Req, res: Res, params: URLSearchParams): void {
  req.resume();
  const bytes = intParam(params.get('bytes'), 0, Number.MAX_SAFE_INTEGER, 0);
  const seed = intParam(params.get('seed'), 0, 0xffffffff, 0);
  if (bytes === undefined || seed === undefined) {
    sendError(res, 400, 'bytes and seed must be non-negative integers (seed < 2^32)');
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes, 'x-pattern-seed': seed });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const chunks = patternChunks(bytes, seed);
  const pump = () => {
    for (;;) {
      if (res.destroyed) return;
      const next = chunks.next();
      if (next.done) {
        res.end();
        return;
      }
      // Write until the socket pushes back, then wait: a slow reader slows the generator.
      if (!res.write(next.value)) {
        res.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

async function handleChat(req: Req, res: Res, search: string, fromEcho = false): Promise<void> {
  if (req.method !== 'POST') {
    sendError(res, 405, 'use POST', { allow: 'POST' });
    return;
  }
  const params = new URLSearchParams(search);
  const delayRaw = req.headers[SSE_DELAY_HEADER];
  const delayMs = intParam(
    typeof delayRaw === 'string' ? delayRaw : params.get('delay_ms'),
    0,
    MAX_SSE_DELAY_MS,
    DEFAULT_SSE_DELAY_MS,
  );
  if (delayMs === undefined) {
    sendError(res, 400, `delay must be an integer number of ms in 0..${MAX_SSE_DELAY_MS}`);
    return;
  }
  const raw = await readSmallBody(req, MAX_JSON_BODY_BYTES).catch(() => undefined);
  if (raw === undefined) {
    if (!req.destroyed) sendError(res, 413, `chat request body over ${MAX_JSON_BODY_BYTES} bytes`);
    return;
  }
  let body: unknown;
  try {
    body = raw.length === 0 && fromEcho ? {} : JSON.parse(raw.toString('utf8'));
  } catch {
    if (!fromEcho) {
      sendError(res, 400, 'body is not JSON');
      return;
    }
    body = {};
  }
  let plan: ReturnType<typeof planChatCompletion>;
  try {
    plan = planChatCompletion(body);
  } catch (err) {
    sendError(res, 400, (err as Error).message);
    return;
  }
  const stream = fromEcho || wantsEventStream(req) || (body as { stream?: unknown }).stream === true;
  if (!stream) {
    sendJson(res, 200, chatCompletionJson(plan));
    return;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    'x-sample-delay-ms': String(delayMs),
  });
  res.flushHeaders();
  let index = 0;
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    timer = undefined;
    if (res.destroyed) return;
    // tokens.length chunks with a token, then the final chunk; [DONE] follows the final chunk at once.
    res.write(`data: ${JSON.stringify(chatCompletionChunk(plan, index))}\n\n`);
    if (index >= plan.tokens.length) {
      res.end('data: [DONE]\n\n');
      return;
    }
    index++;
    timer = setTimeout(send, delayMs);
  };
  res.once('close', () => {
    if (timer !== undefined) clearTimeout(timer);
  });
  send();
}

function handleSleep(req: Req, res: Res, params: URLSearchParams, config: SampleServerConfig): void {
  req.resume();
  const ms = intParam(params.get('ms'), 0, MAX_SLEEP_MS, 0);
  if (ms === undefined) {
    sendError(res, 400, `ms must be an integer in 0..${MAX_SLEEP_MS}`);
    return;
  }
  const started = performance.now();
  const timer = setTimeout(() => {
    sendJson(res, 200, { sleptMs: Math.round(performance.now() - started), instanceId: config.instanceId });
  }, ms);
  // A client that goes away cancels the sleep (as the worker cancels the container request, H10).
  res.once('close', () => clearTimeout(timer));
}

function handleStatus(req: Req, res: Res, params: URLSearchParams, config: SampleServerConfig): void {
  req.resume();
  const code = intParam(params.get('code'), 200, 599);
  if (code === undefined) {
    sendError(res, 400, 'code must be an integer in 200..599');
    return;
  }
  if (code === 204 || code === 304) {
    res.writeHead(code);
    res.end();
    return;
  }
  sendJson(res, code, { status: code, instanceId: config.instanceId });
}

function route(req: Req, res: Res, config: SampleServerConfig): void {
  res.setHeader(INSTANCE_ID_HEADER, config.instanceId);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const search = q < 0 ? '' : url.slice(q + 1);
  switch (path) {
    case HttpSampleRoutes.echo:
      handleEcho(req, res, search, path, config);
      break;
    case HttpSampleRoutes.upload:
      void handleUpload(req, res, config);
      break;
    case HttpSampleRoutes.download:
      handleDownload(req, res, new URLSearchParams(search));
      break;
    case HttpSampleRoutes.chatCompletions:
      void handleChat(req, res, search);
      break;
    case HttpSampleRoutes.sleep:
      handleSleep(req, res, new URLSearchParams(search), config);
      break;
    case HttpSampleRoutes.status:
      handleStatus(req, res, new URLSearchParams(search), config);
      break;
    default:
      req.resume();
      sendJson(res, 404, { error: `no route ${path}`, routes: Object.values(HttpSampleRoutes) });
  }
}

function dialAddress(host: string, port: number): string {
  if (host === '' || host === '0.0.0.0' || host === '::' || host === '[::]') return `127.0.0.1:${port}`;
  if (host.includes(':') && !host.startsWith('[')) return `[${host}]:${port}`;
  return `${host}:${port}`;
}

/** How often stop() closes connections that became idle while draining, in ms. */
const DRAIN_POLL_MS = 50;

/**
 * Starts the HTTP sample function container (HTTP/1.1 on node:http) and resolves once it listens.
 * Routes: `/echo`, `/upload`, `/download?bytes=N`, `/v1/chat/completions`, `/sleep?ms=N`,
 * `/status?code=N` (see the package README). `stop()` stops accepting, lets requests in flight
 * finish for up to `shutdownGraceMs` (default 2000 ms), then closes what is left; `kill()` resets
 * every connection like a crashed container.
 */
export async function startHttpSampleServer(options: SampleServerOptions = {}): Promise<SampleServerHandle> {
  const config = resolveServerConfig(options);
  const server = http.createServer(
    {
      keepAliveTimeout: HTTP_KEEP_ALIVE_TIMEOUT_MS,
      // Uploads of several GiB and 10-minute calls must not hit Node's 5-minute request timeout.
      requestTimeout: 0,
      noDelay: true,
    },
    (req, res) => {
      // While stopping, answers say `connection: close` so clients do not reuse the connection.
      if (stopping !== undefined) res.setHeader('connection', 'close');
      else {
        live.add(res);
        res.once('close', () => live.delete(res));
      }
      route(req, res, config);
    },
  );
  const live = new Set<http.ServerResponse>();
  let stopping: Promise<void> | undefined;
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host.replace(/^\[(.*)\]$/, '$1'), () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    address: dialAddress(config.host, port),
    instanceId: config.instanceId,
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        for (const res of live) if (!res.headersSent) res.setHeader('connection', 'close');
        const poll = setInterval(() => server.closeIdleConnections(), DRAIN_POLL_MS);
        const hard = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
        server.close(() => {
          clearInterval(poll);
          clearTimeout(hard);
          resolve();
        });
        server.closeIdleConnections();
      });
      return stopping;
    },
    kill() {
      server.close();
      for (const socket of sockets) socket.resetAndDestroy();
    },
  };
}
