// JSON schemas of every body, querystring and path parameter. Unknown fields are rejected
// (additionalProperties: false with ajv's removeAdditional off), and ajv runs with allErrors so a
// 400 lists every problem at once.

/** Account IDs and region names are NATS-token-like identifiers. */
const identifier = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;

/** Body of POST /v1/functions. */
export const createFunctionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
    kind: { type: 'string', enum: ['grpc', 'http'] },
    accountId: identifier,
    inferenceUrl: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^/' },
    reconnectWindowMs: { type: 'integer', minimum: 0, maximum: 86_400_000 },
    spillPolicy: { type: 'string', enum: ['local-only', 'spill-over'] },
  },
} as const;

/** Body of POST /v1/functions/:functionId/versions (nothing to set yet). */
export const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const;

/** Querystring `?accountId=` of the list routes. */
export const accountQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { accountId: identifier },
} as const;

/** Path `:functionId`. */
export const functionParams = {
  type: 'object',
  additionalProperties: false,
  required: ['functionId'],
  properties: { functionId: uuid },
} as const;

/** Path `:functionId/versions/:versionId`. */
export const versionParams = {
  type: 'object',
  additionalProperties: false,
  required: ['functionId', 'versionId'],
  properties: { functionId: uuid, versionId: uuid },
} as const;

/** Body of POST /v1/keys. */
export const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    accountId: identifier,
    functions: {
      anyOf: [
        { type: 'string', const: '*' },
        { type: 'array', items: uuid, minItems: 1, maxItems: 1000, uniqueItems: true },
      ],
    },
    description: { type: 'string', maxLength: 512 },
  },
} as const;

/** Path `:keyId`. */
export const keyParams = {
  type: 'object',
  additionalProperties: false,
  required: ['keyId'],
  properties: { keyId: uuid },
} as const;

/** Querystring of GET /v1/sessions. */
export const sessionsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    region: identifier,
    workerId: { type: 'string', minLength: 1, maxLength: 256 },
    functionId: uuid,
  },
} as const;

/** Path `:reqId`. */
export const sessionParams = {
  type: 'object',
  additionalProperties: false,
  required: ['reqId'],
  properties: { reqId: uuid },
} as const;
