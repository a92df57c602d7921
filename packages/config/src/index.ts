// @switchyard/config: typed configuration for every service, loaded from a zod schema, SWITCHYARD_*
// environment variables and CLI overrides into one frozen object, with all problems reported at once.

export type { BufferReclaimer, BufferReclaimerOptions } from './buffer-reclaimer.ts';
export { startBufferReclaimer } from './buffer-reclaimer.ts';
export { CONFIG_INVALID, ConfigError } from './config-error.ts';
export { formatConfigTable } from './format-config-table.ts';
export type { ListenerLimits } from './listener-limits-fields.ts';
export { DEFAULT_LISTENER_LIMITS, listenerLimitsFields } from './listener-limits-fields.ts';
export type { LoadConfigOptions } from './load-config.ts';
export { loadConfig } from './load-config.ts';
export { metricsFields } from './metrics-fields.ts';
export type { ServiceName } from './node-options.ts';
export { missingNodeOptions, SERVICE_NODE_OPTIONS, startServiceRuntime } from './node-options.ts';
export { processesFields, resolveProcesses } from './processes-fields.ts';
export type { FieldInfo, FieldKind } from './schema-fields.ts';
export { describeFields, ENV_PREFIX, envVarName } from './schema-fields.ts';
export type { FileCheck, TlsFilePair } from './tls-files.ts';
export {
  callbackTlsCaFields,
  callbackTlsFields,
  checkCertificate,
  checkPrivateKey,
  clientTlsFields,
  fileField,
  isKeyOfCertificate,
  readTlsFile,
  readTlsPair,
  refineTlsPairs,
  TLS_REFINE_WHEN,
} from './tls-files.ts';
