// @switchyard/region-launcher: starts local regions as child processes (nats-server standalone or as
// a supercluster, redis-server, and each service from its `src/main.ts` with SWITCHYARD_* config),
// for `switchyard dev` and the benches; its NATS plan and config renderer are also the test kit's.
// Packages never import services: it runs them by path.

export type { ChildGroupOptions } from './child-group.ts';
export { ChildGroup, StopTier, shownPath } from './child-group.ts';
export {
  Entrypoints,
  infraBinaries,
  node24Binary,
  REPO_ROOT,
  REQUIRED_NODE_MAJOR,
  requireEntrypoint,
} from './entrypoints.ts';
export type { ChildExit, ChildSpec } from './launched-child.ts';
export { DEFAULT_STOP_GRACE_MS, describeExit, LaunchedChild } from './launched-child.ts';
export { LauncherError, LauncherErrorCode } from './launcher-error.ts';
export type { ScrapeTargetGroup } from './metrics-urls.ts';
export { metricsUrls, scrapeTargets, serviceOfMetricsKey } from './metrics-urls.ts';
export type { NatsServers, StartNatsServersOptions } from './nats-launch.ts';
export {
  NATS_STALL_MS,
  NATS_STALL_RESTARTS,
  natsHealthy,
  startNatsServers,
  waitNatsFormed,
  waitNatsReady,
} from './nats-launch.ts';
export type { NatsServerPlan, NatsTopology, PlanNatsServersOptions } from './nats-plan.ts';
export { natsUrls, planNatsServers, renderNatsConfig, writeNatsConfigs } from './nats-plan.ts';
export type { PortRequest } from './port-requests.ts';
export { freePorts, resolvePorts } from './port-requests.ts';
export type { StartRedisServerOptions } from './redis-launch.ts';
export { startRedisServer } from './redis-launch.ts';
export type {
  LaunchedRegion,
  LaunchRegionsOptions,
  RegionEndpoints,
  RegionPorts,
  RegionSpec,
  RegionsLaunch,
  SampleSpec,
  WorkerSpec,
} from './region-launch.ts';
export { DEFAULT_LAUNCH_READY_TIMEOUT_MS, launchRegions } from './region-launch.ts';
export type { CommonEnvInput, FrontEndEnvInput, WorkerEnvInput } from './service-env.ts';
export {
  commonEnv,
  frontEndEnv,
  inheritedEnv,
  nodeCommand,
  ServiceKind,
  serviceNodeOptions,
  workerEnv,
} from './service-env.ts';
