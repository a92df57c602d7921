// @switchyard/control-store: functions, versions and API keys in KV, with a watch-fed in-process cache.

export type {
  Authorization,
  AuthorizeInput,
  ControlStoreConfig,
  ControlStoreOptions,
  CreateApiKeyInput,
  CreateFunctionInput,
} from './control-store.ts';
export {
  API_KEY_PREFIX,
  ControlStore,
  DEFAULT_CONTROL_LOAD_TIMEOUT_MS,
  DEFAULT_CONTROL_MAX_STALENESS_MS,
  DEFAULT_CONTROL_REPLICAS,
  DEFAULT_CONTROL_TIMEOUT_MS,
  hashApiKey,
  resolveControlStoreConfig,
} from './control-store.ts';
export type { ApiKeyRecord, FunctionRecord, VersionRecord } from './records.ts';
export { ApiKeyRecordSchema, FunctionRecordSchema, VersionRecordSchema } from './records.ts';
