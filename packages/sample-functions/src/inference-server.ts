// The inference sample function: a KServe v2 / Triton GRPCInferenceService (grpc_service.proto)
// with two models, `echo` (outputs = inputs) and `add_one` (adds 1 to FP32/INT32 tensors), so the
// product page's Python client runs unchanged against Switchyard.

import * as grpc from '@grpc/grpc-js';
import { type CallContext, callContext, SessionCounter, statusError } from './call-context.ts';
import { inferenceServiceDefinition } from './proto-load.ts';
import {
  listenSampleServer,
  resolveServerConfig,
  type SampleServerHandle,
  type SampleServerOptions,
} from './server-handle.ts';

/** Names of the models the inference sample serves (any version is accepted). */
export const SampleModels = {
  echo: 'echo',
  addOne: 'add_one',
} as const;
/** A model the inference sample serves. */
export type SampleModel = (typeof SampleModels)[keyof typeof SampleModels];

/** Keys of ModelInferResponse.parameters set by the inference sample. */
export const InferResponseParameters = {
  /** string_param: the nvcf-reqid header the container received, '' if none. */
  requestId: 'nvcf-reqid',
  /** string_param: id of the server instance that answered. */
  instanceId: 'instance_id',
  /** int64_param: calls seen for this nvcf-reqid by this instance, this one included (0 without one). */
  sessionCalls: 'session_calls',
} as const;

/** Server name reported by ServerMetadata. */
export const INFERENCE_SERVER_NAME = 'switchyard-sample-inference';
/** Version reported by ServerMetadata and used when a request names no model version. */
const DEFAULT_MODEL_VERSION = '1';

/** inference.InferParameter as decoded (oneof as the set field plus `parameter_choice`). */
export interface InferParameter {
  bool_param?: boolean;
  int64_param?: number;
  string_param?: string;
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param';
}

/** inference.InferTensorContents as decoded; only the field matching the datatype is used. */
export interface InferTensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: number[];
  uint_contents?: number[];
  uint64_contents?: number[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

/** One tensor of a request or response (InferInputTensor / InferOutputTensor). */
export interface InferTensor {
  name: string;
  datatype: string;
  shape: number[];
  parameters?: Record<string, InferParameter>;
  contents?: InferTensorContents | null;
}

/** inference.ModelInferRequest as decoded. */
export interface ModelInferRequest {
  model_name: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, InferParameter>;
  inputs: InferTensor[];
  outputs?: { name: string; parameters?: Record<string, InferParameter> }[];
  raw_input_contents?: Buffer[];
}

/** inference.ModelInferResponse as decoded. */
export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  parameters: Record<string, InferParameter>;
  outputs: InferTensor[];
  raw_output_contents: Buffer[];
}

interface NamedVersion {
  name?: string;
  version?: string;
}

function isSampleModel(name: string | undefined): name is SampleModel {
  return name === SampleModels.echo || name === SampleModels.addOne;
}

function modelNotFound(name: string | undefined): grpc.ServerErrorResponse {
  return statusError(grpc.status.NOT_FOUND, `model '${name ?? ''}' not found`);
}

function invalid(message: string): grpc.ServerErrorResponse {
  return statusError(grpc.status.INVALID_ARGUMENT, message);
}

/** Output tensors are named after their input, with a leading INPUT replaced by OUTPUT (INPUT0 -> OUTPUT0). */
function outputName(inputName: string): string {
  return inputName.startsWith('INPUT') ? `OUTPUT${inputName.slice('INPUT'.length)}` : inputName;
}

function addOneRaw(datatype: string, raw: Buffer): Buffer {
  if (raw.length % 4 !== 0) throw invalid(`raw ${datatype} contents of ${raw.length} bytes is not a multiple of 4`);
  const out = Buffer.allocUnsafe(raw.length);
  for (let offset = 0; offset < raw.length; offset += 4) {
    if (datatype === 'FP32') out.writeFloatLE(raw.readFloatLE(offset) + 1, offset);
    else out.writeInt32LE((raw.readInt32LE(offset) + 1) | 0, offset);
  }
  return out;
}

function addOneContents(datatype: string, contents: InferTensorContents): InferTensorContents {
  if (datatype === 'FP32') return { fp32_contents: (contents.fp32_contents ?? []).map((v) => Math.fround(v + 1)) };
  return { int_contents: (contents.int_contents ?? []).map((v) => (v + 1) | 0) };
}

/** Runs one model on a request; throws a status error on bad input. */
function infer(request: ModelInferRequest): Pick<ModelInferResponse, 'outputs' | 'raw_output_contents'> {
  const raw = request.raw_input_contents ?? [];
  const inputs = request.inputs ?? [];
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw invalid(`raw_input_contents has ${raw.length} entries for ${inputs.length} inputs`);
  }
  const outputs: InferTensor[] = [];
  const rawOutputs: Buffer[] = [];
  for (const [i, input] of inputs.entries()) {
    const tensor: InferTensor = { name: outputName(input.name), datatype: input.datatype, shape: input.shape ?? [] };
    if (request.model_name === SampleModels.addOne) {
      if (input.datatype !== 'FP32' && input.datatype !== 'INT32') {
        throw invalid(`add_one takes FP32 or INT32 tensors, input '${input.name}' is ${input.datatype}`);
      }
      if (raw.length > 0) rawOutputs.push(addOneRaw(input.datatype, raw[i]));
      else tensor.contents = addOneContents(input.datatype, input.contents ?? {});
    } else if (raw.length > 0) {
      rawOutputs.push(raw[i]);
    } else {
      tensor.contents = input.contents ?? null;
    }
    outputs.push(tensor);
  }
  const requested = request.outputs ?? [];
  if (requested.length === 0) return { outputs, raw_output_contents: rawOutputs };
  // Keep only the requested outputs, in the requested order, raw entries aligned with them.
  const picked: InferTensor[] = [];
  const pickedRaw: Buffer[] = [];
  for (const want of requested) {
    const index = outputs.findIndex((o) => o.name === want.name);
    if (index < 0) throw invalid(`model '${request.model_name}' has no output '${want.name}'`);
    picked.push(outputs[index]);
    if (rawOutputs.length > 0) pickedRaw.push(rawOutputs[index]);
  }
  return { outputs: picked, raw_output_contents: pickedRaw };
}

function modelMetadata(name: SampleModel) {
  const datatype = name === SampleModels.addOne ? 'FP32' : 'BYTES';
  return {
    name,
    versions: [DEFAULT_MODEL_VERSION],
    platform: 'switchyard-sample',
    inputs: [{ name: 'INPUT0', datatype, shape: [-1] }],
    outputs: [{ name: 'OUTPUT0', datatype, shape: [-1] }],
  };
}

/** The GRPCInferenceService implementation for one instance. */
function inferenceImplementation(instanceId: string): grpc.UntypedServiceImplementation {
  const sessions = new SessionCounter();
  const unary =
    <Req, Res>(handle: (request: Req, ctx: CallContext) => Res) =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => {
      const ctx = callContext(call);
      call.sendMetadata(ctx.headers);
      try {
        callback(null, handle(call.request, ctx), ctx.trailers);
      } catch (err) {
        callback(err as grpc.ServerErrorResponse);
      }
    };

  return {
    ServerLive: unary(() => ({ live: true })),
    ServerReady: unary(() => ({ ready: true })),
    ModelReady: unary((request: NamedVersion) => {
      if (!isSampleModel(request.name)) throw modelNotFound(request.name);
      return { ready: true };
    }),
    ServerMetadata: unary(() => ({ name: INFERENCE_SERVER_NAME, version: '0.1.0', extensions: [] })),
    ModelMetadata: unary((request: NamedVersion) => {
      if (!isSampleModel(request.name)) throw modelNotFound(request.name);
      return modelMetadata(request.name);
    }),
    ModelInfer: unary((request: ModelInferRequest, ctx): ModelInferResponse => {
      if (!isSampleModel(request.model_name)) throw modelNotFound(request.model_name);
      const sessionCalls = sessions.record(ctx.requestId);
      return {
        model_name: request.model_name,
        model_version: request.model_version || DEFAULT_MODEL_VERSION,
        id: request.id ?? '',
        parameters: {
          [InferResponseParameters.requestId]: { string_param: ctx.requestId },
          [InferResponseParameters.instanceId]: { string_param: instanceId },
          [InferResponseParameters.sessionCalls]: { int64_param: sessionCalls },
        },
        ...infer(request),
      };
    }),
  };
}

/**
 * Starts the inference sample function (KServe v2 inference.GRPCInferenceService with models
 * `echo` and `add_one`) and resolves once it listens. ModelInfer responses carry the request's id
 * and parameters `nvcf-reqid`, `instance_id` and `session_calls`; unknown models get NOT_FOUND.
 */
export async function startInferenceServer(options?: SampleServerOptions): Promise<SampleServerHandle> {
  const config = resolveServerConfig(options);
  return listenSampleServer(config, inferenceServiceDefinition(), inferenceImplementation(config.instanceId));
}
