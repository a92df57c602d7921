// What every request handler of the invocation service shares (request-invoke, request-forward,
// request-status): config, stores, the worker link, warm tunnels, and the service's in-flight count
// and closing flag. InvocationService (app.ts) builds one at construction; handlers read it per
// request, so nothing is allocated per request to reach it.

import type { ControlStore, OpenCalls } from '@switchyard/control-store';
import type { KeyConcurrency, TokenBuckets } from '@switchyard/rate-limit';
import type { RemoteResults } from '@switchyard/result-exchange';
import type { FrontEndMetrics } from '@switchyard/telemetry';
import type { FrontEndLink } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import type { InvocationConfig } from './config.ts';
import type { ResultStore } from './result-store.ts';
import type { WarmTunnels } from './warm-tunnels.ts';

/** State of one InvocationService shared by its request handlers. */
export interface RequestContext {
  /** The service's resolved config. */
  readonly config: InvocationConfig;
  /** The service's logger (instance and region bound). */
  readonly log: Logger;
  /** Functions, versions and API keys (H1, H10). */
  readonly control: ControlStore;
  /** Requests in progress by API key: a revoked key's responses are cut (issue 8). */
  readonly openCalls: OpenCalls;
  /** Rate limits per key and per function (H10), in the region's Redis. */
  readonly buckets: TokenBuckets;
  /** Invocations in flight per API key on this instance (issue 11 item 2). */
  readonly keyRequests: KeyConcurrency;
  /** Tickets and workers' NATS attaches (see @switchyard/worker-link). */
  readonly link: FrontEndLink;
  /** Workers' tunnels by version, for the warm path (see warm-tunnels.ts). */
  readonly warm: WarmTunnels;
  /** This region's 202 results (H9). */
  readonly results: ResultStore;
  /** Status polls from any region (H9): lookups in the other regions. */
  readonly remoteResults: RemoteResults;
  /** Calls, rejections, 202s and status polls (metrics). */
  readonly metrics: FrontEndMetrics;
  /** Requests being handled (202 results still being stored included); close() waits for 0. */
  inFlight: number;
  /** Set by close(): new invocations are answered 503 SY_SHUTTING_DOWN. */
  closing: boolean;
}
