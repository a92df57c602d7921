// @switchyard/control-store: functions, versions and API keys in KV, with a watch-fed in-process cache.

export { ControlStore } from './control-store.ts';
export type { Authorization, AuthorizeInput } from './control-store-authorize.ts';
export type { ControlStoreConfig, ControlStoreOptions } from './control-store-config.ts';
export {
  DEFAULT_CONTROL_LOAD_TIMEOUT_MS,
  DEFAULT_CONTROL_MAX_STALENESS_MS,
  DEFAULT_CONTROL_PROBE_INTERVAL_MS,
  DEFAULT_CONTROL_REPLICAS,
  DEFAULT_CONTROL_TIMEOUT_MS,
  MIN_CONTROL_MAX_STALENESS_MS,
  resolveControlStoreConfig,
} from './control-store-config.ts';
export { controlFreshnessFields, controlFreshnessOptions } from './control-store-fields.ts';
export type { CreateApiKeyInput, CreateFunctionInput } from './control-store-inputs.ts';
export { API_KEY_PREFIX, hashApiKey } from './control-store-inputs.ts';
export type { ApiKeyChangeListener, VersionChangeListener } from './control-store-watch.ts';
export type { CallCarrier, CallEndCode, CallEndSource, CallStopper } from './open-calls.ts';
export { CallEnding, OpenCalls } from './open-calls.ts';
export type { ApiKeyRecord, FunctionRecord, VersionRecord } from './records.ts';
export { ApiKeyRecordSchema, FunctionRecordSchema, VersionRecordSchema } from './records.ts';
