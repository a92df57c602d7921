// One worker tunnel as a front end sees it (W1): an HTTP/2 client session over the socket the worker
// dialled with CONNECT, with the receive windows that bound what it may make the front end buffer.

import http2 from 'node:http2';
import type { Socket } from 'node:net';
import {
  DEFAULT_CONNECTION_WINDOW_BYTES,
  DEFAULT_MAX_SESSION_MEMORY_MB,
  DEFAULT_STREAM_WINDOW_BYTES,
  H2_SETTINGS,
  widenConnectionWindow,
} from './h2-settings.ts';
import type { MuxClient } from './mux-client.ts';
import type { MuxOptions } from './mux-session.ts';
import { openTunnelMux } from './mux-tunnel.ts';
import { TunnelEnd } from './tunnel-end.ts';

/** Receive windows of a tunnel's session on the front end (bytes). */
export interface TunnelWindows {
  /** SETTINGS_INITIAL_WINDOW_SIZE: the most one stream can have buffered here unread. */
  streamBytes: number;
  /** Connection-level window: bytes in flight (node acknowledges them as they arrive). */
  connectionBytes: number;
}

/** The windows of a tunnel built without limits. */
export const DEFAULT_TUNNEL_WINDOWS: TunnelWindows = {
  streamBytes: DEFAULT_STREAM_WINDOW_BYTES,
  connectionBytes: DEFAULT_CONNECTION_WINDOW_BYTES,
};

/**
 * Mux streams a tunnel spreads its framed calls over, at most (issue 12). Each is an HTTP/2 stream with
 * the tunnel's stream window, read at once at both ends (what a call buffers is bounded by its own
 * credit window), so the windows bound only bytes in flight: one mux stream carries at most one stream
 * window per round trip for all its calls together, where a stream per call had one window each. More
 * mux streams widen that, at the cost of a write per stream and tick instead of one.
 */
export const DEFAULT_TUNNEL_MUX_STREAMS = 4;

/**
 * One tunnel as the proxy sees it: an HTTP/2 client session to a worker. Emits `close` once it takes no
 * new streams (GOAWAY sent or received, PINGs unanswered, socket gone); streams in flight after a
 * GOAWAY still finish on `session`.
 */
export class ProxyTunnel extends TunnelEnd<http2.ClientHttp2Session> {
  /** Worker that dialled this tunnel (X-Worker-ID). */
  readonly workerId: string;
  /** Features the worker announced when it dialled (`x-switchyard-features`; `TunnelFeatures` values). */
  readonly features: ReadonlySet<string>;
  /** Mux streams opened so far (closed ones dropped when the next opens). */
  #muxes: MuxClient[] = [];

  /**
   * @param features the worker's announced features. @default none
   * @param windows receive windows of the tunnel (bytes). @default 1 MiB per stream, 16 MiB per connection
   */
  constructor(
    workerId: string,
    socket: Socket,
    pingIntervalMs: number,
    features: Iterable<string> = [],
    windows: TunnelWindows = DEFAULT_TUNNEL_WINDOWS,
  ) {
    super(clientSessionOver(workerId, socket, pingIntervalMs, windows), pingIntervalMs);
    this.workerId = workerId;
    this.features = new Set(features);
    // The mux stream would keep a closing session open forever: it ends with the calls on it.
    this.on('close', () => {
      for (const mux of this.#muxes) mux.close();
    });
  }

  /**
   * The framed tunnel for the next call (issue 12): calls relayed over it (relayStream with it as the
   * upstream session) share an HTTP/2 stream instead of one each. An open mux without calls is reused;
   * else another one is opened while there are fewer than `streams`, so concurrent calls spread over
   * up to `streams` mux streams (DEFAULT_TUNNEL_MUX_STREAMS); at the bound, the one with the fewest open
   * calls. A mux lost or closed is replaced the same way; `options` apply to a mux when it is opened.
   * Use only when `features` has TunnelFeatures.mux. Once the tunnel closes (GOAWAY), its muxes take no
   * new calls and their streams end after their last.
   * @param streams mux streams at most (at least 1). @default DEFAULT_TUNNEL_MUX_STREAMS
   * @throws like `session.request()` when the tunnel takes no new streams.
   */
  mux(options?: MuxOptions, streams = DEFAULT_TUNNEL_MUX_STREAMS): MuxClient {
    let best: MuxClient | undefined;
    let open = 0;
    for (const mux of this.#muxes) {
      if (mux.closed) continue;
      open++;
      if (best === undefined || mux.openCalls < best.openCalls) best = mux;
    }
    if (best !== undefined && (best.openCalls === 0 || open >= streams)) return best;
    const mux = openTunnelMux(this.session, options);
    if (open < this.#muxes.length) this.#muxes = this.#muxes.filter((m) => !m.closed);
    this.#muxes.push(mux);
    return mux;
  }

  /**
   * Where the next call opens its stream: a mux ({@link mux}, up to `streams`) when `feature` is given and
   * the worker announced it, else the tunnel's session (a worker of an older release, or the front end's
   * SWITCHYARD_TUNNEL_MUX off: rolling upgrades either way). A tunnel that takes no new streams gives its
   * session, whose request() then throws (the caller answers SY_TUNNEL_LOST). Never throws.
   * @param feature the feature that kind of call needs framed (`mux` for gRPC session calls, `http-mux`
   *   for HTTP requests), or undefined: the session.
   * @param streams mux streams at most (at least 1). @default DEFAULT_TUNNEL_MUX_STREAMS
   */
  upstream(feature: string | undefined, streams = DEFAULT_TUNNEL_MUX_STREAMS): http2.ClientHttp2Session | MuxClient {
    if (feature === undefined || !this.features.has(feature)) return this.session;
    try {
      return this.mux(undefined, streams);
    } catch {
      return this.session;
    }
  }
}

/** The proxy's HTTP/2 client session over the socket a worker dialled. */
function clientSessionOver(
  workerId: string,
  socket: Socket,
  pingIntervalMs: number,
  windows: TunnelWindows,
): http2.ClientHttp2Session {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, pingIntervalMs);
  // Sockets of an http.Server are half-open; a worker that dies sends FIN and nothing more, so the
  // tunnel must close on 'end' rather than wait for the PING check (calls would hang meanwhile).
  socket.allowHalfOpen = false;
  socket.once('end', () => socket.destroy());
  const session = http2.connect(`http://${workerId}.tunnel`, {
    createConnection: () => socket,
    settings: { ...H2_SETTINGS, initialWindowSize: windows.streamBytes },
    maxSessionMemory: DEFAULT_MAX_SESSION_MEMORY_MB,
    peerMaxConcurrentStreams: 2 ** 31 - 1,
  });
  widenConnectionWindow(session, windows.connectionBytes);
  return session;
}
