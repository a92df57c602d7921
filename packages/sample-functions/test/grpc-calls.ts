// Test helpers: promise wrappers over loosely typed grpc-js client calls that also collect the
// response initial metadata and the trailers.

import * as grpc from '@grpc/grpc-js';
import type { LooseClient } from '../src/index.ts';

/** What a finished call produced. */
export interface CallResult<T> {
  /** Responses received, in order (one for unary and client-stream calls). */
  messages: T[];
  /** Response initial metadata. */
  headers: grpc.Metadata;
  /** Final status; its metadata holds the trailers. */
  status: grpc.StatusObject;
}

/** Per-call options: metadata entries and a deadline in ms from now. */
export interface CallOptions {
  metadata?: Record<string, string>;
  deadlineMs?: number;
}

function toMetadata(entries: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.add(k, v);
  return md;
}

function callOptions(options: CallOptions): grpc.CallOptions {
  return options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
}

function collect<T>(call: grpc.Call, messages: T[]): Promise<CallResult<T>> {
  let headers = new grpc.Metadata();
  call.on('metadata', (md: grpc.Metadata) => {
    headers = md;
  });
  return new Promise((resolve) => {
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, headers, status }));
  });
}

/** Calls a unary or client-streaming method; `requests` is one request or the stream to write. */
export function callWithOne<T>(
  client: LooseClient,
  method: string,
  requests: unknown | unknown[],
  options: CallOptions = {},
): Promise<CallResult<T>> {
  const messages: T[] = [];
  const done = (err: grpc.ServiceError | null, response?: T) => {
    if (!err && response !== undefined) messages.push(response);
  };
  const streaming = Array.isArray(requests);
  const call = streaming
    ? client[method](toMetadata(options.metadata), callOptions(options), done)
    : client[method](requests, toMetadata(options.metadata), callOptions(options), done);
  const result = collect<T>(call, messages);
  if (streaming) {
    for (const r of requests) call.write(r);
    call.end();
  }
  return result;
}

/** Calls a server-streaming or bidi method; `requests` is one request or the stream to write. */
export function callWithMany<T>(
  client: LooseClient,
  method: string,
  requests: unknown | unknown[],
  options: CallOptions = {},
): Promise<CallResult<T>> {
  const messages: T[] = [];
  const streaming = Array.isArray(requests);
  const call = streaming
    ? client[method](toMetadata(options.metadata), callOptions(options))
    : client[method](requests, toMetadata(options.metadata), callOptions(options));
  call.on('data', (m: T) => messages.push(m));
  call.on('error', () => {}); // the status event carries the outcome
  const result = collect<T>(call, messages);
  if (streaming) {
    for (const r of requests) call.write(r);
    call.end();
  }
  return result;
}
