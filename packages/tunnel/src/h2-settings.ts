// HTTP/2 settings shared by every hop Switchyard owns. Per-stream windows bound what one stream can
// buffer; the connection window is large so that a slow reader on one stream (its stream window
// full) never stalls the other streams of the same tunnel or connection.
import type http2 from 'node:http2';

/** Per-stream receive window (bytes): SETTINGS_INITIAL_WINDOW_SIZE we advertise. */
export const DEFAULT_STREAM_WINDOW_BYTES = 1024 * 1024;
/** Connection-level receive window (bytes) set with `session.setLocalWindowSize`. */
export const DEFAULT_CONNECTION_WINDOW_BYTES = 1024 * 1024 * 1024;
/** nghttp2 session memory cap in MB (node default 10); tunnels carry many concurrent streams. */
export const DEFAULT_MAX_SESSION_MEMORY_MB = 256;

/** Local SETTINGS for sessions Switchyard creates. */
export const H2_SETTINGS: http2.Settings = {
  initialWindowSize: DEFAULT_STREAM_WINDOW_BYTES,
  maxConcurrentStreams: 2 ** 31 - 1,
  enablePush: false,
};

/** Opens the connection-level window of `session` once it is ready (no-op if destroyed). */
export function widenConnectionWindow(session: http2.Http2Session): void {
  const apply = () => {
    if (!session.destroyed) session.setLocalWindowSize(DEFAULT_CONNECTION_WINDOW_BYTES);
  };
  if (session.connecting) session.once('connect', apply);
  else apply();
}
