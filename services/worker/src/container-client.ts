// The worker's HTTP/2 connection to its function container (gRPC over h2c). One session, opened on
// first use and re-opened after it closes, so a restarted container is picked up by the next call.
import http2 from 'node:http2';
import net from 'node:net';
import { DEFAULT_MAX_SESSION_MEMORY_MB, H2_SETTINGS, widenConnectionWindow } from '@switchyard/tunnel';

/** Lazily connected HTTP/2 client session to `authority` (`http://host:port`). */
export class ContainerClient {
  readonly authority: string;
  #session: http2.ClientHttp2Session | undefined;

  constructor(authority: string) {
    this.authority = authority;
  }

  /** The open session, connecting when there is none. Errors surface on the streams opened on it. */
  session(): http2.ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const url = new URL(this.authority);
    const session = http2.connect(this.authority, {
      // TCP_NODELAY: many small frames (headers, trailers) per call; Nagle would hold them for ACKs.
      createConnection: () => net.connect({ host: url.hostname, port: Number(url.port) || 80, noDelay: true }),
      settings: H2_SETTINGS,
      maxSessionMemory: DEFAULT_MAX_SESSION_MEMORY_MB,
      peerMaxConcurrentStreams: 2 ** 31 - 1,
    });
    widenConnectionWindow(session);
    session.on('error', () => {
      // Streams on it fail and answer UNAVAILABLE; the next call reconnects.
    });
    const drop = () => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on('close', drop);
    session.on('goaway', drop);
    this.#session = session;
    return session;
  }

  /** Closes the session. */
  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }
}
