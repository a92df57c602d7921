// Loads the sample protos with proto-loader and builds grpc-js service definitions and clients.
// Message objects use the proto field names (keepCase), int64 as JS numbers and bytes as Buffers.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Absolute path of the `protos/` directory (echo.proto, grpc_service.proto). */
export const PROTO_DIR: string = fileURLToPath(new URL('../protos/', import.meta.url));

/**
 * proto-loader options shared by servers and clients. int64 fields decode as JS numbers: the
 * samples only carry counters, byte counts and tensor shapes, far below 2^53.
 */
const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

/**
 * Channel options for the sample servers and test clients: no limit on message size in either
 * direction (-1), so payloads of any size pass.
 */
export const UNLIMITED_MESSAGE_OPTIONS = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
} as const;

/** A grpc-js client for a service loaded at run time: methods are looked up by name, loosely typed. */
export type LooseClient = grpc.Client & {
  // biome-ignore lint/suspicious/noExplicitAny: generated-at-run-time methods, typed loosely for tests.
  [method: string]: any;
};

/** Client of `switchyard.echo.v1.Echo` (methods Unary, ClientStream, ServerStream, Bidi). */
export type EchoClient = LooseClient;

/** Client of `inference.GRPCInferenceService` (ServerLive, ServerReady, ModelReady, ..., ModelInfer). */
export type InferenceClient = LooseClient;

let echoPackage: grpc.GrpcObject | undefined;
let inferencePackage: grpc.GrpcObject | undefined;

function loadPackage(file: string): grpc.GrpcObject {
  return grpc.loadPackageDefinition(protoLoader.loadSync(file, LOADER_OPTIONS));
}

function echoConstructor(): grpc.ServiceClientConstructor {
  echoPackage ??= loadPackage('echo.proto');
  const v1 = ((echoPackage.switchyard as grpc.GrpcObject).echo as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return v1.Echo as grpc.ServiceClientConstructor;
}

function inferenceConstructor(): grpc.ServiceClientConstructor {
  inferencePackage ??= loadPackage('grpc_service.proto');
  return (inferencePackage.inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
}

/** grpc-js service definition of `switchyard.echo.v1.Echo`, loaded from echo.proto (cached). */
export function echoServiceDefinition(): grpc.ServiceDefinition {
  return echoConstructor().service;
}

/** grpc-js service definition of `inference.GRPCInferenceService`, loaded from grpc_service.proto (cached). */
export function inferenceServiceDefinition(): grpc.ServiceDefinition {
  return inferenceConstructor().service;
}

/**
 * An Echo client for `address` (`host:port`) with no message size limits, plaintext unless `credentials`
 * (e.g. `grpc.credentials.createSsl(ca)`) say otherwise. Close it with
 * `client.close()`.
 */
export function loadEchoClient(
  address: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): EchoClient {
  const Ctor = echoConstructor();
  return new Ctor(address, credentials, UNLIMITED_MESSAGE_OPTIONS) as EchoClient;
}

/**
 * A plaintext GRPCInferenceService client for `address` (`host:port`) with no message size limits.
 * Close it with `client.close()`.
 */
export function loadInferenceClient(address: string): InferenceClient {
  const Ctor = inferenceConstructor();
  return new Ctor(address, grpc.credentials.createInsecure(), UNLIMITED_MESSAGE_OPTIONS) as InferenceClient;
}
