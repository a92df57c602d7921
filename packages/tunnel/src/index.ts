// @switchyard/tunnel: both ends of worker tunnels (W1) and the HTTP/2 stream relay they carry.
export {
  DEFAULT_CONNECTION_WINDOW_BYTES,
  DEFAULT_MAX_SESSION_MEMORY_MB,
  DEFAULT_STREAM_WINDOW_BYTES,
  H2_SETTINGS,
  widenConnectionWindow,
} from './h2-settings.ts';
export type { SocketLimits } from './listener-guard.ts';
export {
  capConnections,
  guardFirstByte,
  guardHttp1Headers,
  guardHttp2ErrorCodes,
  guardHttp2FirstStream,
  h1ServerLimits,
  h2ServerLimits,
  SniffedProtocol,
  sniffClientProtocol,
} from './listener-guard.ts';
export type { MuxRequestOptions } from './mux-client.ts';
export { MuxClient, MuxClientStream } from './mux-client.ts';
export type { MuxFrameHandler, MuxHeaders } from './mux-frames.ts';
export {
  DEFAULT_MAX_MUX_FRAME_PAYLOAD_BYTES,
  MAX_MUX_CALL_ID,
  MUX_DIRECT_DATA_BYTES,
  MUX_FLAG_END_STREAM,
  MUX_FRAME_HEADER_BYTES,
  MuxFrameDecoder,
  MuxFrameError,
  MuxFrameErrorCode,
  MuxFrameType,
  MuxFrameWriter,
  parseHeaderList,
} from './mux-frames.ts';
export type { MuxRespondOptions } from './mux-server.ts';
export { MuxServer, MuxServerStream } from './mux-server.ts';
export type { MuxConfig, MuxOptions } from './mux-session.ts';
export { MUX_WRITE_BUFFER_BYTES, MuxSession, muxConfigOf } from './mux-session.ts';
export { MUX_INITIAL_WINDOW_BYTES, MuxStream, MuxStreamResetError, MuxStreamStateError } from './mux-stream.ts';
export type { MuxCallHandler } from './mux-tunnel.ts';
export { isTunnelMuxStream, openTunnelMux, serveTunnelMux } from './mux-tunnel.ts';
export type { TunnelWindows } from './proxy-tunnel.ts';
export { DEFAULT_TUNNEL_MUX_STREAMS, ProxyTunnel } from './proxy-tunnel.ts';
export type { BodySource } from './read-body.ts';
export { readDeclaredBody } from './read-body.ts';
export type { RelayInbound, RelayStreamBase, RelayUpstream, RelayUpstreamSession } from './relay-streams.ts';
export { forwardHeaderList, forwardHeaders, forwardRawHeaderList, isGrpcContentType } from './stream-headers.ts';
export type { PumpSource, PumpTarget, ReadableCall } from './stream-pump.ts';
export { pumpStream, readableOf } from './stream-pump.ts';
export type { RelayEnding, RelayOptions, RelayResult, RelayStopper } from './stream-relay.ts';
export { detachResponse, ignoreStreamError, relayStream, respondWithError } from './stream-relay.ts';
export type { DialTunnelOptions, TunnelStreamHandler } from './tunnel-dial.ts';
export { dialTunnel, PROCESS_WORKER_SECRET, WorkerTunnel } from './tunnel-dial.ts';
export { TunnelEnd } from './tunnel-end.ts';
export type { TunnelListenerOptions, TunnelRecorder } from './tunnel-listener.ts';
export { TUNNEL_CONNECT_STATUSES, TunnelListener } from './tunnel-listener.ts';
export type { TunnelCloseReason } from './tunnel-ping.ts';
export { DEFAULT_TUNNEL_PING_INTERVAL_MS, TUNNEL_CLOSE_REASONS } from './tunnel-ping.ts';
export type { PendingAttach } from './tunnel-token.ts';
export { DEFAULT_TOKEN_TTL_MS, TokenTable } from './tunnel-token.ts';
export { FrameBoundary, WS_CLOSE_ABNORMAL, WS_CLOSE_NO_STATUS } from './websocket-frames.ts';
