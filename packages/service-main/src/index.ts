// @switchyard/service-main: the start-up and drain sequence of every service's main.ts (config,
// logger, telemetry, ready line, SIGTERM/SIGINT drain, the policy for unhandled faults, exit codes), so each main.ts only wires.

export type { ChildReadyMessage, FrontEndProcessInput, PrimaryProcess, ProcessPlan } from './process-cluster.ts';
export {
  frontEndChildEnv,
  frontEndProcessPlan,
  MAX_RESTART_DELAY_MS,
  MIN_RESTART_DELAY_MS,
  PRIMARY_DRAIN_TIMEOUT_MS,
  runPrimary,
  STABLE_CHILD_MS,
} from './process-cluster.ts';
export type { ProcessesReportMessage, ProcessNotReady, ProcessReadinessOptions } from './process-readiness.ts';
export {
  PROCESS_POLL_INTERVAL_MS,
  PROCESS_POLL_TIMEOUT_MS,
  PROCESSES_CHECK,
  ProcessReadiness,
  watchOtherProcesses,
} from './process-readiness.ts';
export type {
  DrainStep,
  FatalKind,
  RunningService,
  RunServiceOptions,
  ServiceContext,
  ServiceIdentity,
  ServiceLogger,
  ServiceProcess,
} from './run-service.ts';
export { FATAL_DRAIN_TIMEOUT_MS, runService } from './run-service.ts';
