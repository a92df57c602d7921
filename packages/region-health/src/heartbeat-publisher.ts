// Publishes one instance's heartbeat on core NATS every interval (D2). Heartbeats are fire-and-forget:
// a beat lost while NATS reconnects only shortens the instance's margin before views call it stale.

import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { encodeMessage, type Heartbeat, type InstanceKind, NatsNames } from '@switchyard/protocol';

/** Default time between two heartbeats of one instance, in milliseconds. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

/** Beat requests answered at most once per this many milliseconds (several views starting at once). */
export const BEAT_REQUEST_MIN_GAP_MS = 1_000;

/** Options for {@link HeartbeatPublisher}. */
export interface HeartbeatPublisherOptions {
  /** Region of the instance (a NATS subject token). */
  region: string;
  /** What the instance is. */
  kind: InstanceKind;
  /** Identity of the instance (a NATS subject token), e.g. the proxy ID or worker ID. */
  instanceId: string;
  /**
   * Time between two beats, in milliseconds.
   * @default 5000
   */
  intervalMs?: number;
  /**
   * Called before each beat for the fields that change (addresses, versionId, freeCapacity). Region,
   * kind, instanceId, atMs and intervalMs are always the publisher's own.
   * @default () => ({})
   */
  collect?: () => Partial<Heartbeat>;
  /**
   * Answer "beat now" requests (`health-beat-request`, published by a view as it starts) with a beat,
   * at most once per {@link BEAT_REQUEST_MIN_GAP_MS}: front ends set it, so a geodns, API or proxy that
   * just started sees them serving at once (D2). Needs subscribe permission on that subject.
   * @default false
   */
  answerBeatRequests?: boolean;
}

/**
 * Publishes `health.<region>.<kind>.<instanceId>` every `intervalMs` from {@link start} until
 * {@link stop}. Contract (D2): views consider the instance live for `staleAfterIntervals * intervalMs`
 * after each beat; {@link stop} sends a last beat with `intervalMs: 0` so views drop it at once.
 */
export class HeartbeatPublisher {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #region: string;
  readonly #kind: InstanceKind;
  readonly #instanceId: string;
  readonly #intervalMs: number;
  readonly #collect: () => Partial<Heartbeat>;
  readonly #answerBeatRequests: boolean;
  #timer: NodeJS.Timeout | undefined;
  #requests: Subscription | undefined;
  /** When a beat request was last answered (performance.now() ms). */
  #answeredAtMs = Number.NEGATIVE_INFINITY;
  #stopped = false;

  /**
   * @param nc a connected NATS connection (not closed by the publisher).
   * @param options region, kind, instance ID, interval, collect.
   * @throws TypeError when region or instanceId is not a NATS subject token, or intervalMs is not a positive integer.
   */
  constructor(nc: NatsConnection, options: HeartbeatPublisherOptions) {
    const intervalMs = options.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    if (!Number.isInteger(intervalMs) || intervalMs <= 0)
      throw new TypeError(`intervalMs must be a positive integer, got ${intervalMs}`);
    this.#nc = nc;
    this.#subject = NatsNames.healthSubject(options.region, options.kind, options.instanceId);
    this.#region = options.region;
    this.#kind = options.kind;
    this.#instanceId = options.instanceId;
    this.#intervalMs = intervalMs;
    this.#collect = options.collect ?? (() => ({}));
    this.#answerBeatRequests = options.answerBeatRequests ?? false;
  }

  /** Subject this publisher beats on. */
  get subject(): string {
    return this.#subject;
  }

  /**
   * Publishes a beat now, then every `intervalMs` (and on beat requests, when answered). Calling it
   * again, or after {@link stop}, does nothing.
   */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    this.#beat(this.#intervalMs);
    this.#timer = setInterval(() => this.#beat(this.#intervalMs), this.#intervalMs);
    this.#timer.unref();
    if (this.#answerBeatRequests) {
      try {
        this.#requests = this.#nc.subscribe(NatsNames.healthBeatRequest, {
          callback: (err) => {
            if (err !== null || this.#stopped) return;
            const now = performance.now();
            if (now - this.#answeredAtMs < BEAT_REQUEST_MIN_GAP_MS) return;
            this.#answeredAtMs = now;
            this.#beat(this.#intervalMs);
          },
        });
      } catch {
        // Closed connection: nobody to answer; the interval beats stay as they were.
      }
    }
  }

  /**
   * Stops beating and publishes a final `leaving` beat (`intervalMs: 0`), flushed when the connection
   * is up, so every view drops this instance at once. Idempotent; never throws.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    try {
      this.#requests?.unsubscribe();
    } catch {
      // Closed connection: the subscription went with it.
    }
    this.#requests = undefined;
    if (this.#nc.isClosed()) return;
    this.#beat(0);
    await this.#nc.flush().catch(() => undefined);
  }

  #beat(intervalMs: number): void {
    let extra: Partial<Heartbeat> = {};
    try {
      extra = this.#collect();
    } catch {
      // A failing collector must not silence the heartbeat: the instance is alive, say so.
    }
    const beat: Heartbeat = {
      ...extra,
      region: this.#region,
      kind: this.#kind,
      instanceId: this.#instanceId,
      atMs: Date.now(),
      intervalMs,
    };
    try {
      this.#nc.publish(this.#subject, encodeMessage(beat));
    } catch {
      // Closed or draining connection: nothing to tell, the views will age this instance out.
    }
  }
}
