// The Switchyard dashboards (issue 9 item 4): region overview, gRPC sessions, HTTP invocation,
// workers and tunnels, NATS/Redis dependencies, geo DNS. Metric names are the Prometheus names of
// packages/telemetry/src/names.ts (test/grafana-dashboards.test.ts checks them); `switchyard_...:...`
// names are recording rules of infra/prometheus/rules/switchyard-recording.yaml, used where a panel
// would otherwise aggregate raw histograms or counters over every instance on each refresh.

import { dependencies, geodns, workersTunnels } from './dashboards-back.ts';
import { grpcSessions, httpInvocation, overview } from './dashboards-front.ts';
import { type DashboardSpec, dashboard } from './panels.ts';

/** Every dashboard spec, in the order of the generated files. */
export const DASHBOARD_SPECS: readonly DashboardSpec[] = [
  overview,
  grpcSessions,
  httpInvocation,
  workersTunnels,
  dependencies,
  geodns,
];

/** File name (under infra/grafana/dashboards/) -> dashboard JSON model. */
export function renderDashboards(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of DASHBOARD_SPECS) out[`${spec.uid}.json`] = `${JSON.stringify(dashboard(spec), null, 2)}\n`;
  return out;
}
