// Preload for a grpc-proxy child of the regions bench (`node --import bench/lib/resume-stages.ts
// services/grpc-proxy/src/main.ts`, flag `--stages`): times the stages of every resume (a client
// stream arriving with `nvcf-reqid`) from inside the proxy, without changing it: the session lookup
// (SessionLookup.find: the KV read(s)), the attach control request over the tunnel, and the forwarded
// call (tunnel stream to the worker, then the answer back to the client). The stream events come from
// node:http2's diagnostics channels; the lookup from a wrapper on SessionLookup's prototype (the same
// module instance main.ts uses). On SIGUSR2 it prints `{"resumeStages":[...]}` on stdout (one
// record of stage times per resume, ms since the client stream arrived) and forgets them.

import dc from 'node:diagnostics_channel';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { SessionLookup } from '@switchyard/grpc-proxy';

/** Times of one resume, ms after its client stream was created (absent when the stage did not happen). */
export interface ResumeTimes {
  reqId: string;
  lookupStart?: number;
  lookupEnd?: number;
  attachStart?: number;
  attachEnd?: number;
  forwardStart?: number;
  /** Response headers from the worker on the forwarded stream. */
  forwardHeaders?: number;
  forwardClose?: number;
  /** Response headers sent to the client. */
  clientHeaders?: number;
  clientClose?: number;
}

const ATTACH_PATH = /^\/_switchyard\/v1\/sessions\/([0-9a-f-]+)\/attach$/;
const REQ_ID = 'nvcf-reqid';

const open = new Map<string, { t0: number; times: ResumeTimes }>();
const done: ResumeTimes[] = [];
const serverOf = new WeakMap<ServerHttp2Stream, { t0: number; times: ResumeTimes }>();
const clientOf = new WeakMap<ClientHttp2Stream, { t0: number; times: ResumeTimes; kind: 'attach' | 'forward' }>();

const at = (t0: number) => Math.round((performance.now() - t0) * 1000) / 1000;

dc.subscribe('http2.server.stream.created', (message) => {
  const { stream, headers } = message as { stream: ServerHttp2Stream; headers: IncomingHttpHeaders };
  const reqId = headers[REQ_ID];
  if (typeof reqId !== 'string') return;
  const entry = { t0: performance.now(), times: { reqId } as ResumeTimes };
  open.set(reqId, entry);
  serverOf.set(stream, entry);
});
dc.subscribe('http2.server.stream.finish', (message) => {
  const entry = serverOf.get((message as { stream: ServerHttp2Stream }).stream);
  if (entry && entry.times.clientHeaders === undefined) entry.times.clientHeaders = at(entry.t0);
});
dc.subscribe('http2.server.stream.close', (message) => {
  const entry = serverOf.get((message as { stream: ServerHttp2Stream }).stream);
  if (!entry) return;
  entry.times.clientClose = at(entry.t0);
  if (open.get(entry.times.reqId) === entry) open.delete(entry.times.reqId);
  done.push(entry.times);
});
dc.subscribe('http2.client.stream.created', (message) => {
  const { stream, headers } = message as { stream: ClientHttp2Stream; headers: OutgoingHttpHeaders };
  const path = String(headers[':path'] ?? '');
  const attach = ATTACH_PATH.exec(path)?.[1];
  const reqId = attach ?? headers[REQ_ID];
  if (typeof reqId !== 'string') return;
  const entry = open.get(reqId);
  if (!entry) return;
  const kind = attach ? 'attach' : 'forward';
  if (kind === 'attach') entry.times.attachStart ??= at(entry.t0);
  else entry.times.forwardStart ??= at(entry.t0);
  clientOf.set(stream, { ...entry, kind });
});
dc.subscribe('http2.client.stream.finish', (message) => {
  const entry = clientOf.get((message as { stream: ClientHttp2Stream }).stream);
  if (!entry) return;
  if (entry.kind === 'attach') entry.times.attachEnd ??= at(entry.t0);
  else entry.times.forwardHeaders ??= at(entry.t0);
});
dc.subscribe('http2.client.stream.close', (message) => {
  const entry = clientOf.get((message as { stream: ClientHttp2Stream }).stream);
  if (entry?.kind === 'forward') entry.times.forwardClose ??= at(entry.t0);
});

const find = SessionLookup.prototype.find;
SessionLookup.prototype.find = async function (this: SessionLookup, reqId: string) {
  const entry = open.get(reqId);
  if (entry) entry.times.lookupStart ??= at(entry.t0);
  try {
    return await find.call(this, reqId);
  } finally {
    if (entry) entry.times.lookupEnd ??= at(entry.t0);
  }
};

process.on('SIGUSR2', () => {
  process.stdout.write(`${JSON.stringify({ resumeStages: done.splice(0) })}\n`);
});
