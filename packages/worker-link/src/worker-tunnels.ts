// A worker's tunnels (W1): one per front-end instance, shared by every session and request between
// the two. Attaching a session or request redeems its single-use token either over NATS (a tunnel to
// that instance is up) or by dialling `CONNECT /v1/proxy` with it (none is, or the instance no longer
// sees ours).

import { randomBytes } from 'node:crypto';
import type http2 from 'node:http2';
import type { NatsConnection } from '@nats-io/nats-core';
import { isTimeout } from '@switchyard/nats-errors';
import { isSwitchyardError, TunnelFeatures } from '@switchyard/protocol';
import {
  dialTunnel,
  isTunnelMuxStream,
  type MuxServerStream,
  serveTunnelMux,
  type WorkerTunnel,
} from '@switchyard/tunnel';
import { attachOverNats, DEFAULT_ATTACH_TIMEOUT_MS, refreshToken } from './worker-end.ts';

/**
 * Runs `ask` (a NATS request to a front-end instance) and, when it got no answer in time, once more:
 * the answer may be what a NATS server failing over lost, and the instance answers a repeat as it
 * answered the first. @throws what the last try threw.
 */
async function onceMoreOnTimeout<T>(ask: () => Promise<T>): Promise<T> {
  try {
    return await ask();
  } catch (err) {
    if (!isTimeout(err)) throw err;
  }
  return ask();
}

/** What {@link WorkerTunnels} needs. */
export interface WorkerTunnelsOptions {
  nc: NatsConnection;
  /** This worker's ID (X-Worker-ID of its CONNECTs, `workerId` of its NATS attaches). */
  workerId: string;
  /** Function version this worker serves: announced on CONNECT, where a ticket's token is bound to it. */
  versionId?: string;
  /** Every stream a front end opens over any of these tunnels, with the instance it came from. */
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, proxyId: string) => void;
  /**
   * Every call a front end frames on a tunnel's mux stream (issue 12), with the instance it came from.
   * Set: this worker announces TunnelFeatures.mux and TunnelFeatures.httpMux (the handler takes HTTP
   * requests too) and serves the mux stream. @default none (no mux)
   */
  onMuxCall?: (call: MuxServerStream, headers: http2.IncomingHttpHeaders, proxyId: string) => void;
  /** The current tunnel to `proxyId` closed (W3: its sessions' reconnect windows may start). */
  onClosed: (proxyId: string, tunnel: WorkerTunnel) => void;
  /** Budget of an attach over NATS, ms. @default 5_000 */
  attachTimeoutMs?: number;
  /** PEM CA bundle `https://` callback listeners are checked against. @default system roots */
  callbackTlsCa?: Buffer;
}

/** The tunnels of one worker, by front-end instance; see the file comment. */
export class WorkerTunnels {
  readonly #options: WorkerTunnelsOptions;
  readonly #tunnels = new Map<string, WorkerTunnel>();
  readonly #dialing = new Map<string, Promise<WorkerTunnel>>();
  /**
   * Proof of this worker's ID (x-switchyard-worker-secret), made here and shown only to the front ends
   * it dials: a front end keeps this worker's tunnel bound to it, so nobody else can take it over.
   */
  readonly #secret = randomBytes(32).toString('base64url');

  constructor(options: WorkerTunnelsOptions) {
    this.#options = options;
  }

  /** Open tunnels (one per front-end instance). */
  get size(): number {
    return this.#tunnels.size;
  }

  /** The current tunnel to `proxyId` when it is open. */
  open(proxyId: string): WorkerTunnel | undefined {
    const tunnel = this.#tunnels.get(proxyId);
    return tunnel && !tunnel.closed ? tunnel : undefined;
  }

  /**
   * Attaches session or request `reqId` to front-end instance `proxyId` with `token`: over NATS when
   * a tunnel to it is up, else by dialling `callbackUri` (the CONNECT redeems the token).
   * @throws SwitchyardError with the instance's or the dial's code; a nats.js error when the NATS
   *   attach got no answer.
   */
  async attach(proxyId: string, callbackUri: string, token: string, reqId: string): Promise<void> {
    // One tunnel per instance: a second attach while the first dials waits and then uses NATS.
    // No await between the check and the dial below when nobody dials: two tickets taken in the same
    // tick would otherwise both dial, and the second tunnel would close the first under its streams.
    for (let dialing = this.#dialing.get(proxyId); dialing; dialing = this.#dialing.get(proxyId))
      await dialing.catch(() => undefined);
    const request = { token, workerId: this.#options.workerId, workerSecret: this.#secret, reqId };
    const timeoutMs = this.#options.attachTimeoutMs ?? DEFAULT_ATTACH_TIMEOUT_MS;
    if (this.open(proxyId)) {
      // The instance answers a repeat of a token it redeemed for this worker's tunnel as attached
      // (TunnelListener.redeem), so a lost reply is asked for again.
      if (await onceMoreOnTimeout(() => attachOverNats(this.#options.nc, proxyId, request, timeoutMs))) return;
      // The instance no longer sees our tunnel: dial a new one with the same (still unused) token.
    }
    let tunnel: WorkerTunnel;
    try {
      tunnel = await this.#dial(proxyId, callbackUri, token);
    } catch (err) {
      // W1: a token opens a tunnel only within 30 s of its ticket; for an older ticket, ask the
      // instance (over NATS, to this worker's own inbox) for a fresh one and dial once more.
      if (!isSwitchyardError(err, 'SY_TUNNEL_TOKEN_REJECTED')) throw err;
      // The instance answers this worker's repeat with the token its lost answer carried (TokenTable.refresh).
      const fresh = await onceMoreOnTimeout(() => refreshToken(this.#options.nc, proxyId, request, timeoutMs));
      tunnel = await this.#dial(proxyId, callbackUri, fresh);
    }
    const previous = this.#tunnels.get(proxyId);
    this.#tunnels.set(proxyId, tunnel);
    if (previous && previous !== tunnel) previous.close();
    tunnel.once('close', () => {
      if (this.#tunnels.get(proxyId) !== tunnel) return;
      this.#tunnels.delete(proxyId);
      this.#options.onClosed(proxyId, tunnel);
    });
  }

  /** Dials `CONNECT /v1/proxy` at `callbackUri` with `token`; other attaches to `proxyId` wait for it. */
  async #dial(proxyId: string, callbackUri: string, token: string): Promise<WorkerTunnel> {
    const dialing = dialTunnel({
      callbackUri,
      token,
      workerId: this.#options.workerId,
      workerSecret: this.#secret,
      ...(this.#options.callbackTlsCa ? { tlsCa: this.#options.callbackTlsCa } : {}),
      ...(this.#options.versionId !== undefined ? { versionId: this.#options.versionId } : {}),
      features: this.#options.onMuxCall
        ? [TunnelFeatures.warmPath, TunnelFeatures.mux, TunnelFeatures.httpMux]
        : [TunnelFeatures.warmPath],
      // Streams are handed on with the instance this dial goes to, not one looked up from the tunnel
      // once the dial returned: a front end's first stream can arrive in the same read as its CONNECT
      // answer, before this method's caller has resumed (a control attach then found no instance).
      onStream: (stream, headers, tunnel) => {
        const onMuxCall = this.#options.onMuxCall;
        if (onMuxCall !== undefined && isTunnelMuxStream(headers)) {
          // One closure per mux stream, not per call.
          const mux = serveTunnelMux(stream, (call, callHeaders) => onMuxCall(call, callHeaders, proxyId));
          // A closing tunnel waits for its streams: the mux stream ends after its last call.
          const closeMux = () => mux.close();
          tunnel.once('close', closeMux);
          mux.once('close', () => tunnel.off('close', closeMux));
          return;
        }
        this.#options.onStream(stream, headers, proxyId);
      },
    });
    this.#dialing.set(proxyId, dialing);
    try {
      return await dialing;
    } finally {
      if (this.#dialing.get(proxyId) === dialing) this.#dialing.delete(proxyId);
    }
  }

  /** Closes every tunnel (GOAWAY; streams in flight finish). */
  closeAll(): void {
    for (const tunnel of this.#tunnels.values()) tunnel.close();
  }
}
