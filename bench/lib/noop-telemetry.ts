// `@switchyard/telemetry` as the overhead bench's configuration (a) sees it (bench/lib/overhead-preload.ts
// redirects the package here): everything re-exported, except that the front-end metrics and the
// tunnel and dependency recorders are built on a no-op meter (`createNoopMeter()`), so a call records
// nothing. Runtime gauges and the exporter still exist; nothing scrapes them during the bench.
import { createNoopMeter, type Meter } from '@opentelemetry/api';
import * as telemetry from '@switchyard/telemetry';

export * from '@switchyard/telemetry';

/** FrontEndMetrics whose instruments come from a no-op meter, whatever meter the service passes. */
export class FrontEndMetrics extends telemetry.FrontEndMetrics {
  /** Same options as the real class; `_meter` is ignored. */
  constructor(_meter: Meter, options: ConstructorParameters<typeof telemetry.FrontEndMetrics>[1]) {
    super(createNoopMeter(), options);
  }
}

/** The real tunnel recorder on a no-op meter. */
export const createTunnelRecorder: typeof telemetry.createTunnelRecorder = (_meter, ...rest) =>
  telemetry.createTunnelRecorder(createNoopMeter(), ...rest);

/** The real dependency (NATS/Redis) recorder on a no-op meter. */
export const createDependencyRecorder: typeof telemetry.createDependencyRecorder = (_meter, ...rest) =>
  telemetry.createDependencyRecorder(createNoopMeter(), ...rest);
