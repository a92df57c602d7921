// @switchyard/worker-link: the front-end <-> worker exchange, both ends (DESIGN flows 1 and 3, W1-W3,
// S1, S3, G10, G13, H8). Front ends use FrontEndLink; workers use serveWorkerLink, WorkerTunnels and
// the control-stream helpers; the operator API uses requestEvict.
export type { ControlAction, ControlRequest } from './control-streams.ts';
export { answerControl, isControlPath, isControlStream, parseControlPath, sendControl } from './control-streams.ts';
export type { FrontEndHandlers, FrontEndLinkOptions, LinkAllocation } from './front-end-link.ts';
export { DEFAULT_NO_RESPONDERS_GRACE_MS, DEFAULT_RECONNECT_TIMEOUT_MS, FrontEndLink } from './front-end-link.ts';
export type {
  AllocationObserver,
  AllocationOutcome,
  AllocationRequest,
  TicketAllocatorOptions,
} from './ticket-allocation.ts';
export { TicketAllocator } from './ticket-allocation.ts';
export type { WorkerLinkHandlers, WorkerLinkServer } from './worker-end.ts';
export { attachOverNats, DEFAULT_ATTACH_TIMEOUT_MS, publishSessionEnded, serveWorkerLink } from './worker-end.ts';
export type { EvictOutcome, WorkerAddress, WorkerRequestOptions } from './worker-requests.ts';
export { requestEvict, requestReconnect } from './worker-requests.ts';
export type { WorkerTunnelsOptions } from './worker-tunnels.ts';
export { WorkerTunnels } from './worker-tunnels.ts';
