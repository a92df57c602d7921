// Control records as stored in the KV buckets (JSON), with zod schemas so a value written by another
// version or by hand is checked before it reaches the hot path.

import { z } from 'zod';

const uuid = z.string().uuid();

/** A function: one customer service, invoked over gRPC or HTTP. Key: functionId in ctl_functions. */
export const FunctionRecordSchema = z.object({
  functionId: uuid,
  accountId: z.string().min(1),
  name: z.string().min(1),
  kind: z.enum(['grpc', 'http']),
  /** Path of the container's inference endpoint (HTTP functions). */
  inferenceUrl: z.string().startsWith('/'),
  /** Per-function reconnect window (S1), ms; absent = the service default. */
  reconnectWindowMs: z.number().int().nonnegative().optional(),
  /** Whether a new session may be placed in another region when this one has no capacity. */
  spillPolicy: z.enum(['local-only', 'spill-over']).optional(),
  /** Epoch ms. */
  createdAtMs: z.number().int(),
});
export type FunctionRecord = z.infer<typeof FunctionRecordSchema>;

/** One deployable build of a function. Key: versionId in ctl_versions. */
export const VersionRecordSchema = z.object({
  versionId: uuid,
  functionId: uuid,
  accountId: z.string().min(1),
  status: z.enum(['deployed', 'inactive']),
  /** Epoch ms. */
  createdAtMs: z.number().int(),
});
export type VersionRecord = z.infer<typeof VersionRecordSchema>;

/** An API key; only the sha256 of the key is stored. Key: keyId in ctl_api_keys. */
export const ApiKeyRecordSchema = z.object({
  keyId: uuid,
  accountId: z.string().min(1),
  /** Lowercase hex sha256 of the whole key string (`sy_...`). */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** Function IDs the key may invoke, or '*' for every function of its account. */
  functions: z.union([z.literal('*'), z.array(uuid)]),
  description: z.string().optional(),
  /** Epoch ms. */
  createdAtMs: z.number().int(),
  /** Epoch ms of revocation; a revoked key never authenticates again. */
  revokedAtMs: z.number().int().optional(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;
