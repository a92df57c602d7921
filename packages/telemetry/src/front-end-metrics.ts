// The front ends' series (gRPC proxy and invocation service), in one place: instruments created once,
// attribute objects cached per function version, outcome and enumerated value (nothing allocated per
// call on the hot path), and the label values known at start (deployed versions, enumerated results)
// initialised with 0 samples so `absent()` / `rate()` alerts work from the first scrape.
// Packages below the services never see this class: they take small callbacks the services wire to it.

import { type Attributes, type Counter, createNoopMeter, type Histogram, type Meter } from '@opentelemetry/api';
import {
  AbsorbResult,
  AllocationResult,
  Attr,
  CALL_DURATION_BUCKETS_SECONDS,
  ClientProtocol,
  GRPC_OUTCOMES_INITIALISED,
  HTTP_OUTCOMES,
  MetricNames,
  MetricSpecs,
  PollResult,
  REJECTION_BY_ERROR_CODE,
  RejectionReason,
  ResumeResult,
  ResumeSource,
  WAIT_DURATION_BUCKETS_SECONDS,
} from './names.ts';

/** Label value of a function or version the control data does not know (bounded cardinality). */
export const UNKNOWN_LABEL = 'unknown';

const STATUS_CLASSES = ['cancelled', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * The outcome label of an HTTP answer: its status class (`2xx`..`5xx`), or `cancelled` when no status
 * was sent (0 or out of range). One of a fixed set of strings: nothing is allocated per call.
 */
export function httpOutcome(status: number): string {
  return STATUS_CLASSES[Math.floor(status / 100)] ?? 'cancelled';
}

/** gRPC status codes by their text: the only values a gRPC call's outcome label takes (and `cancelled`). */
const GRPC_CODES: ReadonlyMap<string, string> = new Map(Array.from({ length: 17 }, (_, i) => [String(i), String(i)]));

/**
 * The outcome label of a gRPC call from the `grpc-status` it ended with: `0`..`16`; `2` (UNKNOWN, as gRPC
 * clients read a code they do not know) for anything else a container sent; `cancelled` when none was
 * sent. Bounded whatever the worker or container writes.
 */
export function grpcOutcome(grpcStatus: string | number | readonly string[] | undefined): string {
  if (grpcStatus === undefined) return 'cancelled';
  return GRPC_CODES.get(String(grpcStatus)) ?? '2';
}

/** A deployed function version, as the control data knows it. */
export interface KnownVersion {
  functionId: string;
  versionId: string;
}

/**
 * Where a front end learns the function versions that exist (the control store satisfies it): the
 * versions at start, each version written later, and a lookup for one not seen yet.
 */
export interface VersionCatalogue {
  /** Every version known now. */
  listVersions(): Iterable<KnownVersion>;
  /**
   * Calls `listener` for each version created or changed (record) or deleted (undefined) from now on.
   * @returns a function that removes the listener.
   */
  onVersionChange(listener: (versionId: string, record: KnownVersion | undefined) => void): () => void;
  /** The version's record, or undefined when unknown. */
  getVersion(versionId: string): KnownVersion | undefined;
}

/** Options of {@link FrontEndMetrics}. */
export interface FrontEndMetricsOptions {
  /** Which front end records: decides the call outcomes and protocols initialised. */
  service: 'grpc-proxy' | 'invocation';
  /** The deployed versions (label values initialised; others are `unknown`). @default none (every version is `unknown`) */
  catalogue?: VersionCatalogue;
}

/** Cached attribute objects of one function version. */
interface VersionLabels {
  /** `{function, version}`. */
  base: Attributes;
  /** `{function, version, outcome}` by outcome. */
  byOutcome: Map<string, Attributes>;
  /** `{function, version, allocation result}` by result. */
  byAllocation: Map<string, Attributes>;
}

/** Attribute objects of one enumerated attribute, by value, built once. */
function labelsOf<V extends string>(key: string, values: Record<string, V>): Map<string, Attributes> {
  return new Map(Object.values(values).map((v) => [v, { [key]: v }]));
}

/** The front-end series of one instance; see the file comment. */
export class FrontEndMetrics {
  readonly #service: FrontEndMetricsOptions['service'];
  readonly #catalogue: VersionCatalogue | undefined;
  readonly #versions = new Map<string, VersionLabels>();
  readonly #unknown: VersionLabels;
  readonly #calls: Counter;
  readonly #callDuration: Histogram;
  readonly #sessionInit: Histogram;
  readonly #resume: Histogram;
  readonly #allocations: Counter;
  readonly #ticketWait: Histogram;
  readonly #rejections: Counter;
  readonly #connections: Counter;
  readonly #connectionsActive: ReturnType<Meter['createUpDownCounter']>;
  readonly #absorbs: Counter;
  readonly #resultsAccepted: Counter;
  readonly #statusPolls: Counter;
  readonly #resumeLabels = new Map<string, Attributes>();
  readonly #rejectionLabels = labelsOf(Attr.rejectionReason, RejectionReason);
  readonly #protocolLabels = labelsOf(Attr.protocol, ClientProtocol);
  readonly #absorbLabels = labelsOf(Attr.absorbResult, AbsorbResult);
  readonly #pollLabels = labelsOf(Attr.pollResult, PollResult);
  #queued: ((versionId: string) => number) | undefined;
  readonly #unsubscribe: (() => void) | undefined;

  /**
   * Creates the instruments on `meter`, initialises the label values known now, and follows the
   * catalogue's version changes (call {@link close} to stop).
   * @param meter the instance's meter (`Telemetry.meter`).
   */
  constructor(meter: Meter, options: FrontEndMetricsOptions) {
    this.#service = options.service;
    this.#catalogue = options.catalogue;
    const counter = (name: keyof typeof MetricSpecs) =>
      meter.createCounter(name, { description: MetricSpecs[name].description, unit: MetricSpecs[name].unit });
    const histogram = (name: keyof typeof MetricSpecs, buckets: readonly number[]) =>
      meter.createHistogram(name, {
        description: MetricSpecs[name].description,
        unit: MetricSpecs[name].unit,
        advice: { explicitBucketBoundaries: [...buckets] },
      });
    this.#calls = counter(MetricNames.calls);
    this.#callDuration = histogram(MetricNames.callDuration, CALL_DURATION_BUCKETS_SECONDS);
    this.#sessionInit = histogram(MetricNames.sessionInitDuration, WAIT_DURATION_BUCKETS_SECONDS);
    this.#resume = histogram(MetricNames.sessionResumeDuration, WAIT_DURATION_BUCKETS_SECONDS);
    this.#allocations = counter(MetricNames.allocations);
    this.#ticketWait = histogram(MetricNames.ticketWaitDuration, WAIT_DURATION_BUCKETS_SECONDS);
    this.#rejections = counter(MetricNames.rejections);
    this.#connections = counter(MetricNames.clientConnections);
    const active = MetricSpecs[MetricNames.clientConnectionsActive];
    this.#connectionsActive = meter.createUpDownCounter(MetricNames.clientConnectionsActive, {
      description: active.description,
      unit: active.unit,
    });
    this.#absorbs = counter(MetricNames.absorbs);
    this.#resultsAccepted = counter(MetricNames.resultsAccepted);
    this.#statusPolls = counter(MetricNames.statusPolls);
    for (const source of Object.values(ResumeSource))
      for (const result of Object.values(ResumeResult))
        this.#resumeLabels.set(`${source}/${result}`, { [Attr.resumeSource]: source, [Attr.resumeResult]: result });
    this.#unknown = this.#labelsFor(UNKNOWN_LABEL, UNKNOWN_LABEL);
    const queued = MetricSpecs[MetricNames.ticketsQueued];
    meter
      .createObservableGauge(MetricNames.ticketsQueued, { description: queued.description, unit: queued.unit })
      .addCallback((r) => {
        const count = this.#queued;
        for (const [versionId, labels] of this.#versions) r.observe(count ? count(versionId) : 0, labels.base);
      });
    this.#initEnumerated();
    const catalogue = options.catalogue;
    if (catalogue !== undefined) {
      for (const v of catalogue.listVersions()) this.#deployed(v.functionId, v.versionId);
      this.#unsubscribe = catalogue.onVersionChange((versionId, record) => {
        if (record !== undefined && !this.#versions.has(versionId)) this.#deployed(record.functionId, versionId);
      });
    }
  }

  /** Metrics that go nowhere (a no-op meter): for front ends built without telemetry (tests, tools). */
  static noop(service: FrontEndMetricsOptions['service']): FrontEndMetrics {
    return new FrontEndMetrics(createNoopMeter(), { service });
  }

  /** Stops following the catalogue. The instruments stay (series of this instance live until exit). */
  close(): void {
    this.#unsubscribe?.();
  }

  /** Reads the waiting allocations of a version for `switchyard_tickets_queued` (the worker link's count). */
  observeQueued(count: (versionId: string) => number): void {
    this.#queued = count;
  }

  /**
   * A client call ended.
   * @param versionId the version it was routed to, or undefined (not authorized: `unknown`).
   * @param outcome gRPC status code (`0`..`16`), HTTP status class (`2xx`) or `cancelled`.
   * @param seconds duration, s.
   */
  callEnded(versionId: string | undefined, outcome: string, seconds: number): void {
    const attrs = this.#outcomeLabels(this.#labels(versionId), outcome);
    this.#calls.add(1, attrs);
    this.#callDuration.record(seconds, attrs);
  }

  /** A new session's worker attached, `seconds` after it was asked for (gRPC proxy). */
  sessionInit(versionId: string, seconds: number): void {
    this.#sessionInit.record(seconds, this.#labels(versionId).base);
  }

  /** A resume lookup ended (gRPC proxy). */
  resumed(source: ResumeSource, result: ResumeResult, seconds: number): void {
    const attrs = this.#resumeLabels.get(`${source}/${result}`);
    if (attrs !== undefined) this.#resume.record(seconds, attrs);
  }

  /**
   * An allocation ended.
   * @param ticketWaitMs time from the ticket's publication to its end, ms; undefined when no ticket was published.
   */
  allocationEnded(versionId: string, result: AllocationResult, ticketWaitMs: number | undefined): void {
    const labels = this.#labels(versionId);
    let attrs = labels.byAllocation.get(result);
    if (attrs === undefined) {
      attrs = { ...labels.base, [Attr.allocationResult]: result };
      labels.byAllocation.set(result, attrs);
    }
    this.#allocations.add(1, attrs);
    if (ticketWaitMs !== undefined) this.#ticketWait.record(ticketWaitMs / 1000, labels.base);
  }

  /**
   * A request was answered with error catalogue code `code`: counted in `switchyard_rejections_total`
   * when the code is a limit's ({@link REJECTION_BY_ERROR_CODE}), else ignored.
   */
  answeredError(code: string): void {
    const reason = Object.hasOwn(REJECTION_BY_ERROR_CODE, code) ? REJECTION_BY_ERROR_CODE[code] : undefined;
    if (reason !== undefined) this.#rejections.add(1, this.#rejectionLabels.get(reason));
  }

  /** A client connection of `protocol` opened; call the returned function once when it closes. */
  connectionOpened(protocol: ClientProtocol): () => void {
    const attrs = this.#protocolLabels.get(protocol);
    this.#connections.add(1, attrs);
    this.#connectionsActive.add(1, attrs);
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.#connectionsActive.add(-1, attrs);
    };
  }

  /** A G13 request ended (gRPC proxy). */
  absorbed(result: AbsorbResult): void {
    this.#absorbs.add(1, this.#absorbLabels.get(result));
  }

  /** An invocation of `versionId` was answered 202 (invocation service). */
  resultAccepted(versionId: string): void {
    this.#resultsAccepted.add(1, this.#labels(versionId).base);
  }

  /** A status poll was answered (invocation service). */
  statusPolled(result: PollResult): void {
    this.#statusPolls.add(1, this.#pollLabels.get(result));
  }

  /** Labels of `versionId`: cached; a version the catalogue knows is added now; else `unknown`. */
  #labels(versionId: string | undefined): VersionLabels {
    if (versionId === undefined) return this.#unknown;
    const labels = this.#versions.get(versionId);
    if (labels !== undefined) return labels;
    const record = this.#catalogue?.getVersion(versionId);
    return record === undefined ? this.#unknown : this.#deployed(record.functionId, versionId);
  }

  #labelsFor(functionId: string, versionId: string): VersionLabels {
    return {
      base: { [Attr.functionId]: functionId, [Attr.versionId]: versionId },
      byOutcome: new Map(),
      byAllocation: new Map(),
    };
  }

  #outcomeLabels(labels: VersionLabels, outcome: string): Attributes {
    let attrs = labels.byOutcome.get(outcome);
    if (attrs === undefined) {
      attrs = { ...labels.base, [Attr.outcome]: outcome };
      labels.byOutcome.set(outcome, attrs);
    }
    return attrs;
  }

  /** A version is known: its labels are cached and its counters get 0 samples. */
  #deployed(functionId: string, versionId: string): VersionLabels {
    const labels = this.#labelsFor(functionId, versionId);
    this.#versions.set(versionId, labels);
    const outcomes = this.#service === 'grpc-proxy' ? GRPC_OUTCOMES_INITIALISED : HTTP_OUTCOMES;
    for (const outcome of outcomes) this.#calls.add(0, this.#outcomeLabels(labels, outcome));
    for (const result of Object.values(AllocationResult)) {
      const attrs = { ...labels.base, [Attr.allocationResult]: result };
      labels.byAllocation.set(result, attrs);
      this.#allocations.add(0, attrs);
    }
    if (this.#service === 'invocation') this.#resultsAccepted.add(0, labels.base);
    return labels;
  }

  /** 0 samples for the enumerated labels of this front end's series. */
  #initEnumerated(): void {
    for (const attrs of this.#rejectionLabels.values()) this.#rejections.add(0, attrs);
    const protocols =
      this.#service === 'grpc-proxy'
        ? [ClientProtocol.h2, ClientProtocol.http1, ClientProtocol.websocket]
        : [ClientProtocol.h2, ClientProtocol.http1];
    for (const p of protocols) {
      this.#connections.add(0, this.#protocolLabels.get(p));
      this.#connectionsActive.add(0, this.#protocolLabels.get(p));
    }
    if (this.#service === 'grpc-proxy') {
      for (const attrs of this.#absorbLabels.values()) this.#absorbs.add(0, attrs);
    } else {
      for (const attrs of this.#pollLabels.values()) this.#statusPolls.add(0, attrs);
    }
  }
}
