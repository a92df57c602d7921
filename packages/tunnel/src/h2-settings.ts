// HTTP/2 settings shared by every hop Switchyard owns. Per-stream windows bound what one stream can
// buffer. node acknowledges connection-level flow control as soon as DATA arrives (only stream-level
// WINDOW_UPDATEs wait for the reader), so the connection window bounds bytes in flight, not memory:
// a slow reader on one stream (its stream window full) never stalls the other streams, and what a
// peer can make us buffer is the stream window times the open streams (measured: 8 stalled streams
// each held their 1 MiB under a 2 MiB connection window).
import type http2 from 'node:http2';

/** Per-stream receive window (bytes): SETTINGS_INITIAL_WINDOW_SIZE we advertise. */
export const DEFAULT_STREAM_WINDOW_BYTES = 1024 * 1024;
/**
 * Connection-level receive window (bytes) set with `session.setLocalWindowSize`: 16 stream windows
 * in flight at once, far above a LAN's bandwidth-delay product (SWITCHYARD_HTTP2_CONNECTION_WINDOW_BYTES
 * on the front ends; was 1 GiB).
 */
export const DEFAULT_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** nghttp2 session memory cap in MB (node default 10); tunnels carry many concurrent streams. */
export const DEFAULT_MAX_SESSION_MEMORY_MB = 256;

/** Local SETTINGS for sessions Switchyard creates. */
export const H2_SETTINGS: http2.Settings = {
  initialWindowSize: DEFAULT_STREAM_WINDOW_BYTES,
  maxConcurrentStreams: 2 ** 31 - 1,
  enablePush: false,
};

/**
 * Opens the connection-level window of `session` to `bytes` once it is ready (no-op if destroyed).
 * @param bytes the window, at least the stream window. @default DEFAULT_CONNECTION_WINDOW_BYTES
 */
export function widenConnectionWindow(session: http2.Http2Session, bytes = DEFAULT_CONNECTION_WINDOW_BYTES): void {
  const apply = () => {
    if (!session.destroyed) session.setLocalWindowSize(bytes);
  };
  if (session.connecting) session.once('connect', apply);
  else apply();
}
