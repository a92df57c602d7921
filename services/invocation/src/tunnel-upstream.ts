// Where a request to a worker's tunnel goes (issue 12): a call framed on one of the tunnel's mux streams
// when SWITCHYARD_TUNNEL_MUX is on and the worker announced `http-mux`, else an HTTP/2 stream of the
// tunnel of its own (a worker of an older release, or the switch off: rolling upgrades either way).
// Both kinds of stream are used through the one shape below.

import { TunnelFeatures } from '@switchyard/protocol';
import type { ProxyTunnel, RelayUpstream, RelayUpstreamSession } from '@switchyard/tunnel';

/**
 * A request's stream to the worker (an http2.ClientHttp2Stream or a MuxClientStream): events 'headers'
 * (1xx), 'response', 'data', 'end', 'close', 'drain', 'error'; the body goes up with write()/end().
 */
export interface TunnelCallStream extends RelayUpstream {
  /** Ends the request body (after `chunk`). */
  end(chunk?: Buffer): unknown;
  /** Adds a one-time listener. */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  once(event: string, listener: (...args: any[]) => void): this;
  /** Removes a listener. */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  off(event: string, listener: (...args: any[]) => void): this;
}

/** Where a request's stream is opened: the tunnel's HTTP/2 session or one of its muxes. */
export type TunnelCallSession = RelayUpstreamSession<TunnelCallStream>;

/** The switches of {@link upstreamOf} (the invocation config's fields). */
export interface TunnelMuxSwitch {
  /** SWITCHYARD_TUNNEL_MUX. */
  readonly tunnelMux: boolean;
  /** SWITCHYARD_TUNNEL_MUX_STREAMS (at least 1). */
  readonly tunnelMuxStreams: number;
}

/**
 * Where the next request to `tunnel` opens its stream: a mux of the tunnel (ProxyTunnel.mux, spread
 * over up to `tunnelMuxStreams`) when `tunnelMux` is on and the worker announced TunnelFeatures.httpMux,
 * else the tunnel's session (ProxyTunnel.upstream). A tunnel that takes no new streams gives its session,
 * whose request() then throws (the caller answers SY_TUNNEL_LOST, or takes the ticket path for a warm
 * offer). Never throws.
 */
export function upstreamOf(tunnel: ProxyTunnel, config: TunnelMuxSwitch): TunnelCallSession {
  return tunnel.upstream(config.tunnelMux ? TunnelFeatures.httpMux : undefined, config.tunnelMuxStreams);
}
