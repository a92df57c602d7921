// Open calls by API key, so that a front end ends a call whose key stops being valid while it runs (a
// bidi stream, a WebSocket, an SSE response) rather than only refusing the next one: key revoked or
// deleted (SY_AUTH_INVALID, G2/H10), no longer scoped to the call's function (SY_AUTH_FORBIDDEN), or
// control data that can no longer be trusted (SY_CONTROL_UNAVAILABLE: past maxStalenessMs a revocation
// may have been missed). One registry per front end, fed by the control store's events; nothing is
// polled per call, and tracking a call is a few Map/Set operations (the pinned hot path stays in memory).

import type { ApiKeyRecord } from './records.ts';

/** The codes a watched call may be ended with (its CallEnding's code, the abort reason of a tracked call's signal). */
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

/** Told when a watched call must end (a {@link CallEnding}'s slot). */
export interface CallStopper {
  /** Ends the call with `code` (called at most once, synchronously; must not throw). */
  stop(code: CallEndCode): void;
}

/**
 * One watched call ({@link OpenCalls.watch}): `code` once the call must end, and the `stopper` told
 * then. A plain object with a callback slot, not an AbortSignal: nothing per call but this object
 * (the hot path of the gRPC proxy watches every call). Fits the relay's `RelayEnding` of
 * @switchyard/tunnel.
 */
export class CallEnding {
  /** The key the call was authorized with. */
  readonly keyId: string;
  readonly functionId: string;
  /** Why the call must end, once it must; undefined while it may go on. */
  code: CallEndCode | undefined;
  /** Told (once) when the call must end; set by whoever ends the call in its protocol's way. */
  stopper: CallStopper | undefined = undefined;

  constructor(keyId: string, functionId: string, code: CallEndCode | undefined) {
    this.keyId = keyId;
    this.functionId = functionId;
    this.code = code;
  }

  /** Marks the call ended with `code` and tells the stopper, if any. */
  end(code: CallEndCode): void {
    if (this.code !== undefined) return;
    this.code = code;
    this.stopper?.stop(code);
  }
}

/** The stopper of {@link OpenCalls.track}: aborts the signal it returned. */
class AbortStopper implements CallStopper {
  readonly #controller: AbortController;
  constructor(controller: AbortController) {
    this.#controller = controller;
  }
  stop(code: CallEndCode): void {
    this.#controller.abort(code);
  }
}

/**
 * Calls in progress by API key. `watch()` (or `track()`) each authorized call; it is told, with a
 * {@link CallEndCode}, when the call must end. The front end ends it in its protocol's way (gRPC
 * trailers, a WebSocket close frame, a cut HTTP response).
 */
export class OpenCalls {
  readonly #source: CallEndSource;
  readonly #byKey = new Map<string, Set<CallEnding>>();
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
   * Watches a call authorized for key `keyId` and function `functionId` until `carrier` emits 'close'.
   * @returns its ending: `code` already set when the key changed or the store became unavailable since
   *   the call was authorized; else set later, with `stopper.stop(code)` called, when the call must end.
   */
  watch(keyId: string, functionId: string, carrier: CallCarrier): CallEnding {
    const now = this.#source.getApiKey(keyId);
    const code = endCodeFor(now, functionId) ?? (this.#source.available ? undefined : 'SY_CONTROL_UNAVAILABLE');
    const ending = new CallEnding(keyId, functionId, code);
    if (code !== undefined || carrier.destroyed || carrier.closed === true) return ending;
    let calls = this.#byKey.get(keyId);
    if (!calls) {
      calls = new Set();
      this.#byKey.set(keyId, calls);
    }
    calls.add(ending);
    this.#size++;
    carrier.once('close', () => this.#remove(ending));
    return ending;
  }

  /**
   * {@link watch} as an AbortSignal, for callers that end calls by signal (WebSockets, HTTP responses).
   * @returns a signal aborted (reason: a {@link CallEndCode}) when the call must end; already aborted
   *   when the key changed or the store became unavailable since the call was authorized.
   */
  track(keyId: string, functionId: string, carrier: CallCarrier): AbortSignal {
    const ending = this.watch(keyId, functionId, carrier);
    const controller = new AbortController();
    if (ending.code !== undefined) controller.abort(ending.code);
    else ending.stopper = new AbortStopper(controller);
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
      if (code !== undefined) this.#end(call, code);
    }
  }

  #endAll(code: CallEndCode): void {
    for (const calls of this.#byKey.values()) for (const call of calls) this.#end(call, code);
  }

  #end(call: CallEnding, code: CallEndCode): void {
    this.#remove(call);
    call.end(code);
  }

  #remove(call: CallEnding): void {
    const calls = this.#byKey.get(call.keyId);
    if (!calls?.delete(call)) return;
    this.#size--;
    if (calls.size === 0) this.#byKey.delete(call.keyId);
  }
}

/** Why a call of `functionId` with key record `record` may not go on, or undefined when it may. */
function endCodeFor(record: ApiKeyRecord | undefined, functionId: string): CallEndCode | undefined {
  if (record === undefined || record.revokedAtMs !== undefined) return 'SY_AUTH_INVALID';
  if (record.functions !== '*' && !record.functions.includes(functionId)) return 'SY_AUTH_FORBIDDEN';
  return undefined;
}
