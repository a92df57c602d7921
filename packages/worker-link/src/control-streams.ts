// Control requests over a tunnel (S1, W3): a front end tells the worker that one more client
// connection uses a session (`attach`) or that its last one here stopped (`detach`), as a bodiless
// `POST /_switchyard/v1/sessions/<reqId>/<action>` stream marked `x-switchyard-control: 1`, answered
// 200 (done) or 404 (no such session at this worker). No NATS round trip: the tunnel is already there.
// The marker, not the path, makes a stream a control request: only a front end sets it, and front ends
// drop it from every client request and refuse client requests for `/_switchyard/` paths (404).

import type http2 from 'node:http2';
import { SwitchyardError, TunnelControlPaths, TunnelHeaders } from '@switchyard/protocol';
import type { ProxyTunnel } from '@switchyard/tunnel';

/** What a control request asks of the worker. */
export type ControlAction = 'attach' | 'detach';

/** A parsed control request path. */
export interface ControlRequest {
  /** Session request ID (UUID). */
  readonly reqId: string;
  readonly action: ControlAction;
}

/** Value of `x-switchyard-control` on a control stream. */
const CONTROL_MARKER = '1';

const CONTROL_PATH = /^\/_switchyard\/v1\/sessions\/([0-9a-f-]{36})\/(attach|detach)$/;

/**
 * True when `path` is in the control namespace (`/_switchyard/`), well-formed or not: front ends refuse
 * client requests for such paths (SY_ROUTE_NOT_FOUND) rather than relay them.
 */
export function isControlPath(path: string | undefined): boolean {
  return path?.startsWith(TunnelControlPaths.prefix) === true;
}

/**
 * Worker: true when a tunnel stream is a control request, i.e. carries the marker
 * `x-switchyard-control: 1` that only {@link sendControl} sets. A stream without it is an ordinary
 * call, whatever its path.
 */
export function isControlStream(headers: http2.IncomingHttpHeaders): boolean {
  return headers[TunnelHeaders.control] === CONTROL_MARKER;
}

/** The control request `path` names, or undefined when it is not one (the worker answers 404). */
export function parseControlPath(path: string): ControlRequest | undefined {
  const match = CONTROL_PATH.exec(path);
  return match ? { reqId: match[1], action: match[2] as ControlAction } : undefined;
}

/**
 * Front end: sends control request `action` for session `reqId` over `tunnel`.
 * @returns the worker's HTTP status (200 done, 404 no such session).
 * @throws the stream's error, or SwitchyardError SY_TUNNEL_LOST when the stream closed unanswered.
 */
export function sendControl(tunnel: ProxyTunnel, action: ControlAction, reqId: string): Promise<number> {
  const path = action === 'attach' ? TunnelControlPaths.attach(reqId) : TunnelControlPaths.detach(reqId);
  return new Promise((resolve, reject) => {
    let req: http2.ClientHttp2Stream;
    try {
      req = tunnel.session.request(
        { ':method': 'POST', ':path': path, [TunnelHeaders.control]: CONTROL_MARKER },
        { endStream: true },
      );
    } catch (err) {
      reject(err);
      return;
    }
    let answered = false;
    req.on('response', (h) => {
      answered = true;
      resolve(Number(h[':status']));
    });
    req.on('error', reject);
    // Only a stream that closed unanswered is a lost tunnel (no error built per control request).
    req.on('close', () => {
      if (!answered) reject(new SwitchyardError('SY_TUNNEL_LOST'));
    });
    req.resume();
  });
}

/** Worker: answers a control stream with `status` (200 done, 404 unknown session or path) and no body. */
export function answerControl(stream: http2.ServerHttp2Stream, status: 200 | 404): void {
  stream.on('error', () => undefined);
  stream.respond({ ':status': status }, { endStream: true });
}
