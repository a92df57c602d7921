// Open calls by API key, so that a front end ends a call whose key stops being valid while it runs (a
// bidi stream, a WebSocket, an SSE response) rather than only refusing the next one: key revoked or
// deleted (SY_AUTH_INVALID, G2/H10), no longer scoped to the call's function (SY_AUTH_FORBIDDEN), or
// control data that can no longer be trusted (SY_CONTROL_UNAVAILABLE: past maxStalenessMs a revocation
// may have been missed). One registry per front end, fed by the control store's events; nothing is
// polled per call, and tracking a call is a few Map/Set operations (the pinned hot path stays in memory).

import type { ApiKeyRecord } from './records.ts';

/** The codes a tracked call may be ended with (the abort reason of its signal). */
export type CallEndCode = 'SY_AUTH_INVALID' | 'SY_AUTH_FORBIDDEN' | 'SY_CONTROL_UNAVAILABLE';

/** What a call is ended for: the store's API key records and events (a ControlStore). */
export interface CallEndSource {
  /** The record of API key `keyId`, or undefined when unknown. */
  getApiKey(keyId: string): ApiKeyRecord | undefined;
  /** Whether the store may serve authorize (proven fresh within maxStalenessMs). */
  readonly available: boolean;
  onApiKeyChange(listener: (keyId: string, record: ApiKeyRecord | undefined) => void): () => void;
  onUnavailable(listener: () => void): () => void;
}

/** Something that ends with a 'close' event: an HTTP/2 stream, a socket, an HTTP response. */
export interface CallCarrier {
  once(event: 'close', listener: () => void): unknown;
  readonly destroyed: boolean;
  readonly closed?: boolean;
}

interface OpenCall {
  readonly functionId: string;
  readonly controller: AbortController;
}

/**
 * Calls in progress by API key. `track()` each authorized call; its signal is aborted, with a
 * {@link CallEndCode} as reason, when the call must end. The front end ends it in its protocol's way
 * (gRPC trailers, a WebSocket close frame, a cut HTTP response).
 */
export class OpenCalls {
  readonly #source: CallEndSource;
  readonly #byKey = new Map<string, Set<OpenCall>>();
  readonly #unsubscribe: (() => void)[];
  #size = 0;

  /** Follows `source`'s events until {@link close}. */
  constructor(source: CallEndSource) {
    this.#source = source;
    this.#unsubscribe = [
      source.onApiKeyChange((keyId, record) => this.#onKeyChange(keyId, record)),
      source.onUnavailable(() => this.#endAll('SY_CONTROL_UNAVAILABLE')),
    ];
  }

  /** Calls tracked now. */
  get size(): number {
    return this.#size;
  }

  /**
   * Tracks a call authorized for key `keyId` and function `functionId` until `carrier` emits 'close'.
   * @returns a signal aborted (reason: a {@link CallEndCode}) when the call must end; already aborted
   *   when the key changed or the store became unavailable since the call was authorized.
   */
  track(keyId: string, functionId: string, carrier: CallCarrier): AbortSignal {
    const controller = new AbortController();
    const now = this.#source.getApiKey(keyId);
    const code = endCodeFor(now, functionId) ?? (this.#source.available ? undefined : 'SY_CONTROL_UNAVAILABLE');
    if (code !== undefined || carrier.destroyed || carrier.closed === true) {
      if (code !== undefined) controller.abort(code);
      return controller.signal;
    }
    const call: OpenCall = { functionId, controller };
    let calls = this.#byKey.get(keyId);
    if (!calls) {
      calls = new Set();
      this.#byKey.set(keyId, calls);
    }
    calls.add(call);
    this.#size++;
    carrier.once('close', () => this.#remove(keyId, call));
    return controller.signal;
  }

  /** Stops following the store; tracked calls are left as they are. */
  close(): void {
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
  }

  #onKeyChange(keyId: string, record: ApiKeyRecord | undefined): void {
    const calls = this.#byKey.get(keyId);
    if (!calls) return;
    for (const call of calls) {
      const code = endCodeFor(record, call.functionId);
      if (code !== undefined) this.#end(keyId, call, code);
    }
  }

  #endAll(code: CallEndCode): void {
    for (const [keyId, calls] of this.#byKey) for (const call of calls) this.#end(keyId, call, code);
  }

  #end(keyId: string, call: OpenCall, code: CallEndCode): void {
    this.#remove(keyId, call);
    call.controller.abort(code);
  }

  #remove(keyId: string, call: OpenCall): void {
    const calls = this.#byKey.get(keyId);
    if (!calls?.delete(call)) return;
    this.#size--;
    if (calls.size === 0) this.#byKey.delete(keyId);
  }
}

/** Why a call of `functionId` with key record `record` may not go on, or undefined when it may. */
function endCodeFor(record: ApiKeyRecord | undefined, functionId: string): CallEndCode | undefined {
  if (record === undefined || record.revokedAtMs !== undefined) return 'SY_AUTH_INVALID';
  if (record.functions !== '*' && !record.functions.includes(functionId)) return 'SY_AUTH_FORBIDDEN';
  return undefined;
}
