// @switchyard/sample-functions: sample function containers (gRPC echo, KServe v2 inference, an HTTP
// function with echo, uploads, downloads and SSE chat) that the dev stack runs and tests call,
// directly or through Switchyard.

export {
  ECHO_HEADER_PREFIX,
  ECHO_TRAILER_PREFIX,
  RECEIVED_TRACEPARENT_HEADER,
  REQUESTED_FAILURE_MESSAGE,
  WANT_RECEIVED_TRACEPARENT_HEADER,
} from './call-context.ts';
export type { EchoRequest, EchoResponse } from './echo-server.ts';
export { startEchoServer } from './echo-server.ts';
export type { ChatCompletionRequest, ChatPlan } from './http-chat.ts';
export {
  chatCompletionChunk,
  chatCompletionJson,
  DEFAULT_CHAT_MAX_TOKENS,
  nowMs,
  planChatCompletion,
  SAMPLE_CHAT_MODEL,
} from './http-chat.ts';
export type { MultipartPartSummary } from './http-multipart.ts';
export { MultipartError, MultipartHasher, multipartBoundary } from './http-multipart.ts';
export { DEFAULT_PATTERN_CHUNK_BYTES, patternChunks, patternSha256 } from './http-pattern.ts';
export type { HttpEchoResponse, HttpUploadResponse } from './http-server.ts';
export {
  DEFAULT_SSE_DELAY_MS,
  ECHO_BODY_LIMIT_BYTES,
  HttpSampleRoutes,
  INSTANCE_ID_HEADER,
  SSE_DELAY_HEADER,
  startHttpSampleServer,
} from './http-server.ts';
export type {
  InferParameter,
  InferTensor,
  InferTensorContents,
  ModelInferRequest,
  ModelInferResponse,
  SampleModel,
} from './inference-server.ts';
export {
  INFERENCE_SERVER_NAME,
  InferResponseParameters,
  SampleModels,
  startInferenceServer,
} from './inference-server.ts';
export type { EchoClient, InferenceClient, LooseClient } from './proto-load.ts';
export {
  echoServiceDefinition,
  inferenceServiceDefinition,
  loadEchoClient,
  loadInferenceClient,
  PROTO_DIR,
  UNLIMITED_MESSAGE_OPTIONS,
} from './proto-load.ts';
export type { SampleServerHandle, SampleServerOptions } from './server-handle.ts';
export { DEFAULT_SHUTDOWN_GRACE_MS } from './server-handle.ts';
export type { SseEvent } from './sse-reader.ts';
export { readSseEvents } from './sse-reader.ts';
