// Resource bounds of a client-facing listener (issue 11 item 2), shared by every service schema that
// owns one. Defaults hold on a 2-core machine with `ulimit -n` 20000: a client that connects and
// sends nothing, or trickles its headers, is cut; one connection cannot open unbounded streams or
// make nghttp2 hold unbounded memory. What a client gets at each limit is in docs/configuration.md.
import { z } from 'zod';

/**
 * Zod fields of {@link ListenerLimits}; spread them into a service's config schema
 * (`...listenerLimitsFields`). Environment: SWITCHYARD_FIRST_BYTE_TIMEOUT_MS, ..._HEADERS_TIMEOUT_MS,
 * ..._MAX_CONNECTIONS, ..._MAX_CONCURRENT_STREAMS, ..._MAX_HEADER_LIST_BYTES,
 * ..._HTTP2_MAX_SESSION_MEMORY_BYTES.
 */
export const listenerLimitsFields = {
  firstByteTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('A new client connection that sends no byte within this (ms) is closed.'),
  headersTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(20_000)
    .describe(
      'HTTP/1.1: a connection whose request headers are not complete within this (ms) after its first byte or its previous response is closed. HTTP/2: a connection that opens no stream within this (ms) is closed.',
    ),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .default(8_192)
    .describe(
      'Open connections per listener (client and worker callback listeners each); one more is closed at once (no answer).',
    ),
  maxConcurrentStreams: z
    .number()
    .int()
    .min(1)
    .default(1_000)
    .describe('HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS per client connection; one more is reset (REFUSED_STREAM).'),
  maxHeaderListBytes: z
    .number()
    .int()
    .min(1_024)
    .default(65_536)
    .describe(
      'Largest request header list (bytes): HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE (larger: the stream is reset), HTTP/1.1 max header size (larger: 431).',
    ),
  http2MaxSessionMemoryBytes: z
    .number()
    .int()
    .min(1_048_576)
    .default(33_554_432)
    .describe(
      'nghttp2 memory per client HTTP/2 connection (bytes, rounded down to MiB); past it new streams are refused (REFUSED_STREAM).',
    ),
  http2StreamWindowBytes: z
    .number()
    .int()
    .min(65_535)
    .max(2 ** 31 - 1)
    .default(1_048_576)
    .describe(
      'HTTP/2 stream receive window (SETTINGS_INITIAL_WINDOW_SIZE) of client connections and worker tunnels (bytes): the most a peer that is not read can make this process buffer per open stream, so at most maxConcurrentStreams times this per client connection. Smaller costs throughput on long round trips (one stream moves at most this per round trip).',
    ),
  http2ConnectionWindowBytes: z
    .number()
    .int()
    .min(1_048_576)
    .max(2 ** 31 - 1)
    .default(16_777_216)
    .describe(
      'HTTP/2 connection-level receive window of client connections and worker tunnels (bytes; keep it at least http2StreamWindowBytes): how much a peer may send ahead of our acknowledgement. What is buffered is bounded by the stream window per open stream (node acknowledges connection-level data as it arrives).',
    ),
  http2MaxRefusedStreams: z
    .number()
    .int()
    .min(1)
    .default(1_000)
    .describe(
      'Streams node refuses on one client HTTP/2 connection for want of session memory (REFUSED_STREAM) before it closes the connection with GOAWAY ENHANCE_YOUR_CALM.',
    ),
  http2MaxInvalidFrames: z
    .number()
    .int()
    .min(1)
    .default(1_000)
    .describe(
      'Invalid frames one client HTTP/2 connection may send (e.g. DATA on a stream we refused) before it is closed with GOAWAY ENHANCE_YOUR_CALM.',
    ),
};

/** Resolved listener bounds (see {@link listenerLimitsFields} for units and defaults). */
export interface ListenerLimits {
  firstByteTimeoutMs: number;
  headersTimeoutMs: number;
  maxConnections: number;
  maxConcurrentStreams: number;
  maxHeaderListBytes: number;
  http2MaxSessionMemoryBytes: number;
  http2StreamWindowBytes: number;
  http2ConnectionWindowBytes: number;
  http2MaxRefusedStreams: number;
  http2MaxInvalidFrames: number;
}

/** The defaults of {@link listenerLimitsFields}, for listeners built without a config. */
export const DEFAULT_LISTENER_LIMITS: ListenerLimits = z.object(listenerLimitsFields).parse({});
