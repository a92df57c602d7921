// @switchyard/region-health: heartbeats of every proxy, invocation and worker instance on core NATS,
// and a view of which regions are healthy, what they advertise and how much capacity they have (D2).

export type { CallWindowOptions } from './call-window.ts';
export { CallWindow, DEFAULT_CALL_WINDOW_MS, DEFAULT_CALL_WINDOW_SLICES, isServerErrorOutcome } from './call-window.ts';
export type { HeartbeatPublisherOptions } from './heartbeat-publisher.ts';
export { DEFAULT_HEARTBEAT_INTERVAL_MS, HeartbeatPublisher } from './heartbeat-publisher.ts';
export type {
  AddressService,
  LiveInstanceStatus,
  RegionHealthViewOptions,
  RegionStatus,
} from './region-health-view.ts';
export { DEFAULT_STALE_AFTER_INTERVALS, RegionHealthView } from './region-health-view.ts';
