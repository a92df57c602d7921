// Span names and attributes of the proxy's client calls (SERVER spans), OpenTelemetry semantic
// conventions.

import type http2 from 'node:http2';
import { type Attributes, grpcMethodOf, TraceAttr } from '@switchyard/telemetry';

/** Server span name: `<rpc.service>/<rpc.method>` of a gRPC call, else the HTTP method (semconv). */
export function callSpanName(headers: http2.IncomingHttpHeaders, grpc: boolean): string {
  const path = headers[':path'];
  if (grpc && grpcMethodOf(path) !== undefined) return (path as string).slice(1);
  return headers[':method'] ?? 'GET';
}

/** Attributes of a client call's server span (called only when the span records). */
export function callSpanAttributes(headers: http2.IncomingHttpHeaders, grpc: boolean): Attributes {
  const path = headers[':path'] ?? '/';
  const rpc = grpc ? grpcMethodOf(path) : undefined;
  const attributes: Attributes = {
    [TraceAttr.httpRequestMethod]: headers[':method'] ?? 'GET',
    [TraceAttr.urlPath]: path.split('?')[0],
    [TraceAttr.urlScheme]: headers[':scheme'] ?? 'http',
    [TraceAttr.networkProtocolName]: 'http',
    [TraceAttr.networkProtocolVersion]: '2',
  };
  if (rpc !== undefined) {
    attributes[TraceAttr.rpcSystem] = 'grpc';
    attributes[TraceAttr.rpcService] = rpc.service;
    attributes[TraceAttr.rpcMethod] = rpc.method;
  }
  const authority = headers[':authority'];
  if (authority !== undefined) attributes[TraceAttr.serverAddress] = authority;
  return attributes;
}
