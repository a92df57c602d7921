// New traces at a front end without the SDK's per-call work when they are not sampled (issue 9: CPU
// per call with tracing sampled at 1%).
//
// A client call without a `traceparent` starts a new trace at the front end. With a ratio sampler the
// SDK would, for each call, make a span ID and a trace ID, run the sampler, count the span for its own
// `otel.sdk.span.*` metrics and, for the 99% it drops, wrap the IDs in a non-recording span; then the
// W3C propagator validates both IDs (regular expressions) to write the `traceparent` for the worker. Here
// the front end rolls the root decision itself (Math.random() < ratio, the same rate as the SDK's
// TraceIdRatioBased sampler), mints the IDs of a dropped trace from a pool of crypto-random bytes and
// wraps them in the API's non-recording span, exactly what the SDK returns for a NOT_RECORD decision, and
// writes that span's `traceparent` directly. A trace it decides to sample goes to the SDK with a context
// value the root sampler installed by `startTelemetry` honours, so the SDK makes and records that span
// as any other. Parent-based decisions (a client's or a ticket's `traceparent`) are the SDK's as before.

import { randomFillSync } from 'node:crypto';
import {
  type Context,
  createContextKey,
  propagation,
  type Span,
  type SpanContext,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';

/** Context value that makes {@link RootRatioSampler} sample a root: the front end rolled "sampled". */
const SAMPLE_ROOT = createContextKey('switchyard.sample-root');

/** @opentelemetry/core's suppress-tracing key (a `Symbol.for`, so the same symbol here). */
const SUPPRESS_TRACING = Symbol.for('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/**
 * Root ratio of the fast path, or undefined when it is off (the SDK decides every span): set by
 * `startTelemetry` from the sampler it installs.
 */
let rootRatio: number | undefined;

/**
 * Whether `OTEL_PROPAGATORS` is the default (`tracecontext,baggage`, or unset), whose output
 * {@link injectMinted} writes; read with the ratio by {@link setRootSampling}.
 */
let defaultPropagators = false;

/**
 * The span context of a dropped new trace minted by {@link rootDecision}, known by its class so its
 * `traceparent` is written without the propagator's validation. A class rather than a WeakSet of the
 * minted objects: a WeakSet gains an entry per call whose key dies young, held in an ephemeron table
 * that V8 processes in its collections and that grows in the old generation.
 */
class MintedSpanContext implements SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags = TraceFlags.NONE;
  constructor(traceId: string, spanId: string) {
    this.traceId = traceId;
    this.spanId = spanId;
  }
}

/**
 * Turns the front ends' root fast path on with `ratio` (0..1: the share of new traces sampled), or off
 * (undefined). `startTelemetry` calls it: with the {@link RootRatioSampler} it installs, or 0 when new
 * traces are never sampled (no exporter), or undefined for any other sampler. Reads `OTEL_PROPAGATORS` too.
 */
export function setRootSampling(ratio: number | undefined): void {
  rootRatio = ratio;
  const names = new Set(
    (process.env.OTEL_PROPAGATORS ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((n) => n !== ''),
  );
  defaultPropagators = names.size === 0 || (names.size === 2 && names.has('tracecontext') && names.has('baggage'));
}

/**
 * The root sampler `startTelemetry` installs under `ParentBased` for `OTEL_TRACES_SAMPLER=
 * parentbased_traceidratio`: samples a root whose context carries the fast path's "sampled" roll, else
 * decides as the SDK's TraceIdRatioBased sampler with the same ratio (roots started elsewhere).
 */
export class RootRatioSampler implements tracing.Sampler {
  readonly #ratio: tracing.TraceIdRatioBasedSampler;
  readonly #description: string;

  /** @param ratio share of new traces to sample, 0..1. */
  constructor(ratio: number) {
    this.#ratio = new tracing.TraceIdRatioBasedSampler(ratio);
    this.#description = `SwitchyardRootRatio{${ratio}}`;
  }

  shouldSample(context: Context, traceId: string): tracing.SamplingResult {
    if (context.getValue(SAMPLE_ROOT) === true) return { decision: tracing.SamplingDecision.RECORD_AND_SAMPLED };
    return this.#ratio.shouldSample(context, traceId);
  }

  toString(): string {
    return this.#description;
  }
}

/** Random bytes for IDs: 24 per root (16 trace ID, 8 span ID), refilled from the CSPRNG 256 roots at a time. */
const ID_POOL = Buffer.allocUnsafe(24 * 256);
let poolOffset = ID_POOL.length;

const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/** The span context of a new dropped trace: a valid (not all-zero) trace ID and span ID, lower-case hex. */
function mintSpanContext(): MintedSpanContext {
  for (;;) {
    if (poolOffset + 24 > ID_POOL.length) {
      randomFillSync(ID_POOL);
      poolOffset = 0;
    }
    const traceId = ID_POOL.toString('hex', poolOffset, poolOffset + 16);
    const spanId = ID_POOL.toString('hex', poolOffset + 16, poolOffset + 24);
    poolOffset += 24;
    if (traceId !== ZERO_TRACE_ID && spanId !== ZERO_SPAN_ID) return new MintedSpanContext(traceId, spanId);
  }
}

/**
 * The fast path's decision for a span to start under `parent`: undefined when the SDK must start it
 * (fast path off, `parent` has a span, tracing suppressed); else the non-recording span of a new
 * trace that was not sampled, or the context to hand the SDK for a new trace that was (its root
 * sampler will sample it).
 */
export function rootDecision(parent: Context): { span: Span } | { sampled: Context } | undefined {
  const ratio = rootRatio;
  if (ratio === undefined || trace.getSpan(parent) !== undefined || parent.getValue(SUPPRESS_TRACING) === true)
    return undefined;
  if (ratio > 0 && Math.random() < ratio) return { sampled: parent.setValue(SAMPLE_ROOT, true) };
  return { span: trace.wrapSpanContext(mintSpanContext()) };
}

/**
 * Whether `headers` (lower-case names, as Node gives them) may carry trace context for the configured
 * propagators: true unless they are the default ones (read by {@link setRootSampling}) and neither
 * `traceparent` nor `baggage` is present, when extracting would return its base context unchanged
 * (the W3C propagator ignores a `tracestate` without a `traceparent`).
 */
export function mayCarryTraceContext(headers: Readonly<Record<string, unknown>>): boolean {
  return !defaultPropagators || headers.traceparent !== undefined || headers.baggage !== undefined;
}

/**
 * Writes `traceparent` for a span context minted by {@link rootDecision} into `headers`, as the W3C
 * propagator would (flags 00, no `tracestate`), when the propagators are the default ones and `ctx`
 * carries no baggage.
 * @returns false when it did not apply (the caller uses `propagation.inject`).
 */
export function injectMinted(ctx: Context, headers: Record<string, unknown>): boolean {
  if (!defaultPropagators) return false;
  const spanContext = trace.getSpanContext(ctx);
  if (
    spanContext === undefined ||
    !(spanContext instanceof MintedSpanContext) ||
    propagation.getBaggage(ctx) !== undefined
  )
    return false;
  headers.traceparent = `00-${spanContext.traceId}-${spanContext.spanId}-00`;
  return true;
}

/**
 * The ratio of `OTEL_TRACES_SAMPLER_ARG` as NodeSDK reads it for `parentbased_traceidratio`: a number
 * in 0..1, else 1 (blank, not a number or out of range).
 */
export function samplerRatioFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = (env.OTEL_TRACES_SAMPLER_ARG ?? '').trim();
  const ratio = raw === '' ? Number.NaN : Number(raw);
  return Number.isNaN(ratio) || ratio < 0 || ratio > 1 ? 1 : ratio;
}
