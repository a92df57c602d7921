// Where is session <reqId>? (flow 3, G8, G15): this region's bucket and every other region's bucket at
// once, the remote ones bounded by one timeout; a local hit wins. Only resumes pay for it; pinned calls
// (G6) never get here.
// "Not found" is said only when every region answered "no"; a region that could not answer in time
// makes a miss UNAVAILABLE (grpc-js' rule: an unreachable directory is never NOT_FOUND).
// Each side is a span (`switchyard.resume.lookup.local` / `.remote`) when the call's span records.

import type { NatsConnection } from '@nats-io/nats-core';
import { isSwitchyardError } from '@switchyard/protocol';
import { findSession, SessionDirectory, type SessionEntry } from '@switchyard/session-directory';
import { recordSpanError, SpanKind, SpanNames, startChildSpan, TraceAttr, tracerFor } from '@switchyard/telemetry';

const tracer = tracerFor('@switchyard/grpc-proxy');

/**
 * Runs the lookup `run` in span `name` (about `regions`) when the active span records, with its
 * result (`found`, `missing`, `unavailable`); else just runs it.
 */
async function tracedLookup<T extends SessionEntry | null>(
  name: string,
  regions: string,
  run: () => Promise<T>,
): Promise<T> {
  const span = startChildSpan(tracer, name, SpanKind.INTERNAL, () => ({ [TraceAttr.region]: regions }));
  if (span === undefined) return run();
  try {
    const entry = await run();
    span.setAttribute(TraceAttr.lookupResult, entry === null ? 'missing' : 'found');
    return entry;
  } catch (err) {
    span.setAttribute(TraceAttr.lookupResult, 'unavailable');
    recordSpanError(span, err);
    throw err;
  } finally {
    span.end();
  }
}

/** Default budget of the parallel lookup in the other regions' buckets (G15), in milliseconds. */
export const DEFAULT_REMOTE_LOOKUP_TIMEOUT_MS = 1_000;

/** A session record found by {@link SessionLookup.find}, with the region whose bucket holds it. */
export interface FoundSession extends SessionEntry {
  /** Region of the bucket the record was read from (this proxy's own, or a remote one). */
  region: string;
}

/**
 * Binds the session buckets of `regions` (other regions than this proxy's) without any server round
 * trip, so a region that is down does not block start-up. Unknown or unreachable regions show up
 * later, as SY_DIRECTORY_UNAVAILABLE of a lookup.
 *
 * @param nc this proxy's NATS connection (reaches the other regions through the gateways).
 * @param regions region names (NATS tokens); duplicates and `localRegion` are skipped.
 * @param localRegion this proxy's region.
 * @param timeoutMs budget of each remote read, in milliseconds.
 * @throws TypeError for a region name that is not a NATS token.
 */
export async function openRemoteDirectories(
  nc: NatsConnection,
  regions: readonly string[],
  localRegion: string,
  timeoutMs: number = DEFAULT_REMOTE_LOOKUP_TIMEOUT_MS,
): Promise<SessionDirectory[]> {
  const unique = [...new Set(regions)].filter((r) => r !== localRegion);
  return Promise.all(unique.map((region) => SessionDirectory.open(nc, { region, create: false, timeoutMs })));
}

/**
 * Finds session records for resumes: the local bucket, and the remote ones at the same time (G15).
 */
export class SessionLookup {
  readonly #local: SessionDirectory;
  readonly #remote: readonly SessionDirectory[];
  readonly #remoteTimeoutMs: number;

  /**
   * @param local this region's directory.
   * @param remote the other regions' directories (see {@link openRemoteDirectories}); [] = single region.
   * @param remoteTimeoutMs budget of the whole remote lookup, in milliseconds (@default 1000).
   */
  constructor(
    local: SessionDirectory,
    remote: readonly SessionDirectory[] = [],
    remoteTimeoutMs: number = DEFAULT_REMOTE_LOOKUP_TIMEOUT_MS,
  ) {
    this.#local = local;
    this.#remote = remote;
    this.#remoteTimeoutMs = remoteTimeoutMs;
  }

  /** This proxy's region (its own bucket's). */
  get localRegion(): string {
    return this.#local.region;
  }

  /** Regions looked up after the local one. */
  get remoteRegions(): string[] {
    return this.#remote.map((d) => d.region);
  }

  /**
   * The record of `reqId`: from the local bucket when there; else the first remote bucket that has
   * it. G15: a session of another region is found. The remote buckets are asked at the same time as
   * the local one (each within the remote timeout), so a session of another region costs one
   * inter-region round trip, not a local miss plus one; a local hit does not wait for them. The
   * price is one remote read per region per resume, also for local sessions (resumes only: pinned
   * calls never look up).
   *
   * @returns the record, revision and region, or null when every region answered "not found" (G8).
   * @throws SwitchyardError SY_DIRECTORY_UNAVAILABLE when no region has it and at least one (local
   *   or remote) did not answer in time: the caller says UNAVAILABLE, not NOT_FOUND.
   *   SY_INTERNAL for a corrupt record.
   */
  async find(reqId: string): Promise<FoundSession | null> {
    const local = this.#local;
    const localGet = () => tracedLookup(SpanNames.resumeLookupLocal, local.region, () => local.get(reqId));
    if (this.#remote.length === 0) {
      const entry = await localGet();
      return entry === null ? null : { ...entry, region: this.#local.region };
    }
    const remote = tracedLookup(SpanNames.resumeLookupRemote, this.remoteRegions.join(','), () =>
      findSession([...this.#remote], reqId, { timeoutMs: this.#remoteTimeoutMs }),
    ).then(
      (entry) => ({ entry }),
      (err: unknown) => ({ err }),
    );
    let localFailure: unknown;
    try {
      const entry = await localGet();
      if (entry !== null) return { ...entry, region: this.#local.region };
    } catch (err) {
      // The local cluster may be the broken one; a remote region may still have the session.
      if (!isSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE')) throw err;
      localFailure = err;
    }
    const answer = await remote;
    if ('err' in answer) throw localFailure ?? answer.err;
    if (answer.entry === null) {
      if (localFailure !== undefined) throw localFailure;
      return null;
    }
    return { ...answer.entry, region: answer.entry.record.region };
  }
}
