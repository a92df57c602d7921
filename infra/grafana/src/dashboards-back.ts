// Back-end dashboards: workers and tunnels, NATS/Redis dependencies and Node runtime, geo DNS.

import { type DashboardSpec, REGION, timeseries } from './panels.ts';

const R = REGION;
const RATE = '$__rate_interval';

const WORKER = `${R}, service_name="worker"`;

/** Title of the workers panel of container calls per second by protocol (test/prometheus-e2e reads its series). */
export const CONTAINER_CALLS_BY_PROTOCOL = 'Container calls per second by protocol';

/** Workers (capacity, container calls) and tunnels (open, churn, CONNECT results, token age). */
export const workersTunnels: DashboardSpec = {
  uid: 'switchyard-workers-tunnels',
  title: 'Switchyard / Workers and tunnels',
  description: 'Worker capacity and container calls by protocol (gRPC, HTTP); tunnels between workers and front ends.',
  rows: [
    {
      title: 'Workers',
      panels: [
        timeseries(
          'Capacity per function version',
          'short',
          'Session slots of the workers: total, used and free (recorded).',
          [
            {
              expr: `sum by (switchyard_region, switchyard_function_version_id) (switchyard_worker_capacity{${R}})`,
              legend: 'total {{switchyard_region}} {{switchyard_function_version_id}}',
            },
            {
              expr: `sum by (switchyard_region, switchyard_function_version_id) (switchyard_worker_capacity_used{${R}})`,
              legend: 'used {{switchyard_region}} {{switchyard_function_version_id}}',
            },
            {
              expr: `switchyard_region_version:switchyard_worker_capacity_free:sum{${R}}`,
              legend: 'free {{switchyard_region}} {{switchyard_function_version_id}}',
            },
          ],
        ),
        timeseries('Free capacity per worker', 'short', 'Free session slots of each worker.', [
          {
            expr: `sum by (switchyard_region, service_instance_id) (switchyard_worker_capacity_free{${R}})`,
            legend: '{{switchyard_region}} {{service_instance_id}}',
          },
        ]),
        timeseries('Sessions held by workers', 'short', 'Sessions each worker holds.', [
          {
            expr: `sum by (switchyard_region, service_instance_id) (switchyard_sessions_active{${WORKER}})`,
            legend: '{{switchyard_region}} {{service_instance_id}}',
          },
        ]),
        timeseries(
          CONTAINER_CALLS_BY_PROTOCOL,
          'reqps',
          'Calls each worker relayed to its function container, by protocol (grpc, http; websocket while switched).',
          [
            {
              expr: `sum by (switchyard_region, switchyard_protocol) (rate(switchyard_container_call_duration_seconds_count{${R}}[${RATE}]))`,
              legend: '{{switchyard_region}} {{switchyard_protocol}}',
            },
          ],
        ),
        timeseries(
          'Container call duration p95 by protocol and outcome',
          's',
          'Worker to function container calls; gRPC and HTTP calls apart (a WebSocket lasts as long as it stays open).',
          [
            {
              expr: `histogram_quantile(0.95, sum by (le, switchyard_region, switchyard_protocol, switchyard_outcome) (rate(switchyard_container_call_duration_seconds_bucket{${R}}[${RATE}])))`,
              legend: '{{switchyard_region}} {{switchyard_protocol}} {{switchyard_outcome}}',
            },
          ],
        ),
        timeseries(
          'Container errors per second by protocol and kind',
          'reqps',
          'Calls the container failed or refused, by protocol.',
          [
            {
              expr: `sum by (switchyard_region, switchyard_protocol, switchyard_error_kind) (rate(switchyard_container_errors_total{${R}}[${RATE}]))`,
              legend: '{{switchyard_region}} {{switchyard_protocol}} {{switchyard_error_kind}}',
            },
          ],
        ),
        timeseries(
          'Reconnect windows expired per second',
          'reqps',
          'Sessions whose client did not come back in time.',
          [
            {
              expr: `sum by (switchyard_region) (rate(switchyard_worker_reconnect_expiries_total{${R}}[${RATE}]))`,
              legend: '{{switchyard_region}}',
            },
          ],
        ),
      ],
    },
    {
      title: 'Tunnels',
      panels: [
        timeseries(
          'Open tunnels per front end',
          'short',
          'Worker tunnels open at each proxy and invocation instance.',
          [
            {
              expr: `sum by (switchyard_region, service_name, service_instance_id) (switchyard_tunnels_active{${R}})`,
              legend: '{{switchyard_region}} {{service_name}} {{service_instance_id}}',
            },
          ],
        ),
        timeseries('Tunnels opened and closed per second', 'reqps', 'Churn; closes by reason.', [
          {
            expr: `sum by (switchyard_region) (rate(switchyard_tunnels_opened_total{${R}}[${RATE}]))`,
            legend: 'opened {{switchyard_region}}',
          },
          {
            expr: `sum by (switchyard_region, switchyard_tunnel_close_reason) (rate(switchyard_tunnels_closed_total{${R}}[${RATE}]))`,
            legend: 'closed {{switchyard_region}} {{switchyard_tunnel_close_reason}}',
          },
        ]),
        timeseries('CONNECT results by status', 'reqps', 'Answers to workers dialling CONNECT /v1/proxy.', [
          {
            expr: `sum by (switchyard_region, http_response_status_code) (rate(switchyard_tunnel_connects_total{${R}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{http_response_status_code}}',
          },
        ]),
        timeseries('Tunnel token age at use, p95', 's', 'Age of the single-use token when a CONNECT presents it.', [
          {
            expr: `histogram_quantile(0.95, sum by (le, switchyard_region) (rate(switchyard_tunnel_token_age_seconds_bucket{${R}}[${RATE}])))`,
            legend: '{{switchyard_region}}',
          },
        ]),
      ],
    },
  ],
};

/** NATS and Redis client connections, errors, operation latency; Node runtime. */
export const dependencies: DashboardSpec = {
  uid: 'switchyard-dependencies',
  title: 'Switchyard / NATS and Redis',
  description:
    'Client connections of every service to NATS and Redis, their errors and operation latency; Node runtime.',
  rows: [
    {
      title: 'Connections',
      panels: [
        timeseries(
          'Connected (1) or not (0), worst instance',
          'short',
          'Lowest connection state per service and dependency.',
          [
            {
              expr: `min by (switchyard_region, service_name, switchyard_dependency) (switchyard_dependency_connected{${R}})`,
              legend: '{{switchyard_region}} {{service_name}} {{switchyard_dependency}}',
            },
          ],
        ),
        timeseries('Reconnects per second', 'reqps', 'Client reconnects to a dependency.', [
          {
            expr: `sum by (switchyard_region, switchyard_dependency) (rate(switchyard_dependency_reconnects_total{${R}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{switchyard_dependency}}',
          },
        ]),
        timeseries('Request errors per second by kind', 'reqps', 'No responders, timeouts, other.', [
          {
            expr: `sum by (switchyard_region, switchyard_dependency, switchyard_error_kind) (rate(switchyard_dependency_request_errors_total{${R}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{switchyard_dependency}} {{switchyard_error_kind}}',
          },
        ]),
        timeseries('Ready instances', 'short', 'Instances whose readiness checks (NATS, KV, Redis, listeners) pass.', [
          {
            expr: `sum by (switchyard_region, service_name) (switchyard_ready{${R}})`,
            legend: '{{switchyard_region}} {{service_name}}',
          },
        ]),
      ],
    },
    {
      title: 'Operations',
      panels: [
        timeseries('Operations per second', 'ops', 'KV, stream and Redis operations by dependency and operation.', [
          {
            expr: `sum by (switchyard_dependency, switchyard_operation) (rate(switchyard_dependency_operation_duration_seconds_count{${R}}[${RATE}]))`,
            legend: '{{switchyard_dependency}} {{switchyard_operation}}',
          },
        ]),
        timeseries('Operation duration p95', 's', 'KV get/put/create/delete, stream publish, fetch, Redis.', [
          {
            expr: `histogram_quantile(0.95, sum by (le, switchyard_dependency, switchyard_operation) (rate(switchyard_dependency_operation_duration_seconds_bucket{${R}}[${RATE}])))`,
            legend: '{{switchyard_dependency}} {{switchyard_operation}}',
          },
        ]),
      ],
    },
    {
      title: 'Node runtime',
      panels: [
        timeseries('Event-loop delay p99', 's', 'Worst instance per service (instrumentation-runtime-node).', [
          {
            expr: `max by (switchyard_region, service_name) (nodejs_eventloop_delay_p99{${R}})`,
            legend: '{{switchyard_region}} {{service_name}}',
          },
        ]),
        timeseries('Event-loop utilisation', 'percentunit', 'Worst instance per service.', [
          {
            expr: `max by (switchyard_region, service_name) (nodejs_eventloop_utilization{${R}})`,
            legend: '{{switchyard_region}} {{service_name}}',
          },
        ]),
        timeseries('Heap used', 'bytes', 'V8 heap used, summed per service.', [
          {
            expr: `sum by (switchyard_region, service_name) (v8js_memory_heap_used{${R}})`,
            legend: '{{switchyard_region}} {{service_name}}',
          },
        ]),
      ],
    },
  ],
};

const DNS = 'dns_answer_region=~"$region"';

/** geodns answers by region, rcode, transport and ECS. */
export const geodns: DashboardSpec = {
  uid: 'switchyard-geodns',
  title: 'Switchyard / Geo DNS',
  description: 'geodns answers: which region clients are sent to, response codes, transports and ECS.',
  rows: [
    {
      title: 'Answers',
      panels: [
        timeseries(
          'Queries per second by answer region',
          'reqps',
          'Where clients are sent (empty: no healthy region).',
          [
            {
              expr: `sum by (dns_answer_region) (rate(switchyard_dns_queries_total{${DNS}}[${RATE}]))`,
              legend: '{{dns_answer_region}}',
            },
          ],
          { stack: true },
        ),
        timeseries('Queries per second by rcode', 'reqps', 'NOERROR, NXDOMAIN, SERVFAIL, REFUSED...', [
          {
            expr: `sum by (dns_rcode) (rate(switchyard_dns_queries_total{${DNS}}[${RATE}]))`,
            legend: '{{dns_rcode}}',
          },
        ]),
        timeseries(
          'Queries per second by transport and ECS',
          'reqps',
          'UDP or TCP; whether the query carried an EDNS Client Subnet.',
          [
            {
              expr: `sum by (dns_transport, dns_ecs) (rate(switchyard_dns_queries_total{${DNS}}[${RATE}]))`,
              legend: '{{dns_transport}} ecs={{dns_ecs}}',
            },
          ],
        ),
        timeseries('geodns instances ready', 'short', 'geodns instances whose NATS connection (heartbeats) is up.', [
          { expr: 'sum(switchyard_ready{service_name="geodns"})', legend: 'ready' },
        ]),
      ],
    },
  ],
};
