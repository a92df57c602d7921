// @switchyard/protocol: wire names, status mapping, error catalogue, NATS names, message schemas.

export type { ErrorCode } from './errors.ts';
export { ErrorCatalogue, httpStatusOf, isSwitchyardError, retryAfterOf, SwitchyardError } from './errors.ts';
export type { GrpcStatusCode, GrpcStatusName } from './grpc-status.ts';
export { encodeGrpcMessage, GrpcStatus, grpcStatusName, httpStatusForGrpc } from './grpc-status.ts';
export type {
  AttachRequest,
  CallSummary,
  ControlReply,
  EvictRequest,
  Heartbeat,
  ReconnectRequest,
  ResultLookupReply,
  ResultRequest,
  SessionEnded,
  SessionRecord,
  Ticket,
} from './messages.ts';
export {
  AttachRequestSchema,
  ControlReplySchema,
  decodeMessage,
  EvictRequestSchema,
  encodeMessage,
  FunctionKind,
  HeartbeatSchema,
  InstanceKind,
  ReconnectRequestSchema,
  ResultChunkFrame,
  ResultLookupReplySchema,
  ResultRequestSchema,
  SessionEndedSchema,
  SessionRecordSchema,
  TicketSchema,
} from './messages.ts';
export { assertToken, NatsNames } from './nats-names.ts';
export type { ProblemDocument } from './problem.ts';
export { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX, problemDocument } from './problem.ts';
export { isUuid, isUuidV4, newRequestId } from './request-id.ts';
export {
  ContainerHeaders,
  connectionTokens,
  DefaultPorts,
  DirectBody,
  HOP_BY_HOP_HEADERS,
  Metadata,
  REQUEST_ID_COOKIE,
  TUNNEL_CONNECT_PATH,
  TunnelControlPaths,
  TunnelFeatures,
  TunnelHeaders,
} from './wire-names.ts';
