// @switchyard/service-main: the start-up and drain sequence of every service's main.ts (config,
// logger, telemetry, ready line, SIGTERM/SIGINT drain, exit codes), so each main.ts only wires.

export type {
  DrainStep,
  RunningService,
  RunServiceOptions,
  ServiceContext,
  ServiceIdentity,
  ServiceLogger,
  ServiceProcess,
} from './run-service.ts';
export { runService } from './run-service.ts';
