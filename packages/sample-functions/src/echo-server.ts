// The echo sample function: serves switchyard.echo.v1.Echo (echo.proto), one method per gRPC call
// kind, so tests can drive every streaming shape, large messages, delays, failures and metadata
// through Switchyard and compare with a direct call.

import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import {
  type CallContext,
  callContext,
  REQUESTED_FAILURE_MESSAGE,
  SessionCounter,
  statusError,
  waitUnlessCancelled,
} from './call-context.ts';
import { echoServiceDefinition } from './proto-load.ts';
import {
  listenSampleServer,
  resolveServerConfig,
  type SampleServerHandle,
  type SampleServerOptions,
} from './server-handle.ts';

/** switchyard.echo.v1.EchoRequest as decoded (proto field names, defaults filled in). */
export interface EchoRequest {
  /** Bytes to echo back. */
  payload: Buffer;
  /** ServerStream and Bidi: responses per request (0 means 1). */
  repeat: number;
  /** Wait before each response, in ms. */
  delay_ms: number;
  /** If non-zero, end the call with this gRPC status code. */
  fail_code: number;
  /** If > 0, respond with this many bytes instead of the echo. */
  response_size: number;
}

/** switchyard.echo.v1.EchoResponse as decoded (int64 fields as numbers). */
export interface EchoResponse {
  /** The echoed payload, or response_size bytes. */
  payload: Buffer;
  /** The nvcf-reqid header the container received, '' if none. */
  request_id: string;
  /** Id of the server instance that answered. */
  instance_id: string;
  /** Calls seen for request_id by this instance, this one included (0 without request_id). */
  session_calls: number;
  /** Payload bytes received on this call, in bytes. */
  received_bytes: number;
}

type Request = Partial<EchoRequest>;

function responsePayload(request: Request, echoed: Buffer): Buffer {
  const size = request.response_size ?? 0;
  return size > 0 ? Buffer.alloc(size, 0x61) : echoed;
}

function failure(request: Request, ctx: CallContext): grpc.ServerErrorResponse | undefined {
  const code = request.fail_code ?? 0;
  return code === 0 ? undefined : statusError(code, REQUESTED_FAILURE_MESSAGE, ctx.trailers);
}

async function writeAll(
  call: grpc.ServerWritableStream<unknown, EchoResponse> | grpc.ServerDuplexStream<unknown, EchoResponse>,
  ctx: CallContext,
  request: Request,
  make: () => EchoResponse,
): Promise<boolean> {
  const count = Math.max(request.repeat ?? 0, 1);
  for (let i = 0; i < count; i++) {
    if (!(await waitUnlessCancelled(request.delay_ms ?? 0, ctx.signal))) return false;
    if (!call.write(make())) {
      await Promise.race([once(call, 'drain'), once(ctx.signal, 'abort')]);
      if (ctx.signal.aborted) return false;
    }
  }
  return true;
}

/** The Echo service implementation for one instance. */
function echoImplementation(instanceId: string): grpc.UntypedServiceImplementation {
  const sessions = new SessionCounter();
  const base = (ctx: CallContext, sessionCalls: number) => ({
    request_id: ctx.requestId,
    instance_id: instanceId,
    session_calls: sessionCalls,
  });

  return {
    async Unary(call: grpc.ServerUnaryCall<Request, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) {
      const ctx = callContext(call);
      const sessionCalls = sessions.record(ctx.requestId);
      call.sendMetadata(ctx.headers);
      const request = call.request;
      if (!(await waitUnlessCancelled(request.delay_ms ?? 0, ctx.signal))) return;
      const error = failure(request, ctx);
      if (error) return callback(error);
      const payload = request.payload ?? Buffer.alloc(0);
      callback(
        null,
        { ...base(ctx, sessionCalls), payload: responsePayload(request, payload), received_bytes: payload.length },
        ctx.trailers,
      );
    },

    async ClientStream(
      call: grpc.ServerReadableStream<Request, EchoResponse>,
      callback: grpc.sendUnaryData<EchoResponse>,
    ) {
      const ctx = callContext(call);
      const sessionCalls = sessions.record(ctx.requestId);
      call.sendMetadata(ctx.headers);
      // Control fields come from the first message. Payloads are kept (and concatenated into the
      // response) only when no response_size was asked for, so huge streams need not be buffered.
      let first: Request | undefined;
      const chunks: Buffer[] = [];
      let receivedBytes = 0;
      try {
        for await (const message of call as AsyncIterable<Request>) {
          first ??= message;
          const payload = message.payload ?? Buffer.alloc(0);
          receivedBytes += payload.length;
          if (!((first.response_size ?? 0) > 0)) chunks.push(payload);
        }
      } catch {
        return; // the call was cancelled or broke; nobody is listening for a reply
      }
      const request = first ?? {};
      if (!(await waitUnlessCancelled(request.delay_ms ?? 0, ctx.signal))) return;
      const error = failure(request, ctx);
      if (error) return callback(error);
      callback(
        null,
        {
          ...base(ctx, sessionCalls),
          payload: responsePayload(request, Buffer.concat(chunks)),
          received_bytes: receivedBytes,
        },
        ctx.trailers,
      );
    },

    async ServerStream(call: grpc.ServerWritableStream<Request, EchoResponse>) {
      const ctx = callContext(call);
      const sessionCalls = sessions.record(ctx.requestId);
      call.sendMetadata(ctx.headers);
      const request = call.request;
      const payload = request.payload ?? Buffer.alloc(0);
      const make = () => ({
        ...base(ctx, sessionCalls),
        payload: responsePayload(request, payload),
        received_bytes: payload.length,
      });
      if (!(await writeAll(call, ctx, request, make))) return;
      const error = failure(request, ctx);
      if (error) call.emit('error', error);
      else call.end(ctx.trailers);
    },

    async Bidi(call: grpc.ServerDuplexStream<Request, EchoResponse>) {
      const ctx = callContext(call);
      const sessionCalls = sessions.record(ctx.requestId);
      call.sendMetadata(ctx.headers);
      let receivedBytes = 0;
      // A manual iterator: leaving a for-await loop would destroy the stream before the failure
      // status could be sent.
      const requests = (call as AsyncIterable<Request>)[Symbol.asyncIterator]();
      try {
        for (let next = await requests.next(); !next.done; next = await requests.next()) {
          const request = next.value;
          const payload = request.payload ?? Buffer.alloc(0);
          receivedBytes += payload.length;
          const make = () => ({
            ...base(ctx, sessionCalls),
            payload: responsePayload(request, payload),
            received_bytes: receivedBytes,
          });
          if (!(await writeAll(call, ctx, request, make))) return;
          const error = failure(request, ctx);
          if (error) {
            call.emit('error', error);
            return;
          }
        }
      } catch {
        return;
      }
      call.end(ctx.trailers);
    },
  };
}

/**
 * Starts the echo sample function (switchyard.echo.v1.Echo) and resolves once it listens.
 * Mirrors x-echo-* metadata as initial metadata and x-trailer-* metadata as trailers, counts calls
 * per nvcf-reqid, honours cancellation and deadlines, and has no message size limit.
 */
export async function startEchoServer(options?: SampleServerOptions): Promise<SampleServerHandle> {
  const config = resolveServerConfig(options);
  return listenSampleServer(config, echoServiceDefinition(), echoImplementation(config.instanceId));
}
