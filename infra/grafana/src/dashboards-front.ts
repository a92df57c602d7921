// Front-end dashboards: region overview, gRPC sessions, HTTP invocation. `switchyard_...:...` names are
// recording rules of infra/prometheus/rules/switchyard-recording.yaml.

import { type DashboardSpec, REGION, stat, timeseries } from './panels.ts';

const R = REGION;
const RATE = '$__rate_interval';

export function percentiles(bucketRate: (q: string) => string, legend: string) {
  return [0.5, 0.95, 0.99].map((q) => ({
    expr: `histogram_quantile(${q}, ${bucketRate(String(q))})`,
    legend: `p${q * 100} ${legend}`,
  }));
}

/** Region overview: traffic, errors, latency percentiles, capacity, sessions per region. */
export const overview: DashboardSpec = {
  uid: 'switchyard-region-overview',
  title: 'Switchyard / Region overview',
  description:
    'Traffic, errors, latency, capacity and sessions of every region (issue 9; SLIs in docs/observability.md).',
  rows: [
    {
      title: 'Now',
      panels: [
        stat('Calls per second', 'reqps', 'Client calls ended per second at every front end of the selected regions.', {
          expr: `sum(switchyard_region_service:switchyard_calls:rate5m{${R}})`,
          legend: 'calls/s',
        }),
        stat(
          'Server error ratio',
          'percentunit',
          'Calls ending in a server-side error (gRPC UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS; HTTP 5xx) over all calls, 5 min.',
          {
            expr: `sum(switchyard_region_service:switchyard_call_errors:rate5m{${R}}) / sum(switchyard_region_service:switchyard_calls:rate5m{${R}})`,
            legend: 'errors',
          },
          [
            { value: 0.001, color: 'orange' },
            { value: 0.05, color: 'red' },
          ],
        ),
        stat(
          'Free worker capacity',
          'short',
          'Free session slots summed over every worker of the selected regions; 0 means new sessions queue.',
          { expr: `sum(switchyard_region:switchyard_worker_capacity_free:sum{${R}})`, legend: 'free' },
          [],
        ),
        stat('Active sessions', 'short', 'Sessions with client connections at the gRPC proxies.', {
          expr: `sum(switchyard_sessions_active{${R}, service_name="grpc-proxy"})`,
          legend: 'sessions',
        }),
      ],
    },
    {
      title: 'Traffic and errors',
      panels: [
        timeseries('Calls per second by region and front end', 'reqps', 'Recorded 5 min rate of ended calls.', [
          {
            expr: `sum by (switchyard_region, service_name) (switchyard_region_service:switchyard_calls:rate5m{${R}})`,
            legend: '{{switchyard_region}} {{service_name}}',
          },
        ]),
        timeseries(
          'Calls per second by outcome',
          'reqps',
          'gRPC status code (0..16, cancelled) or HTTP status class.',
          [
            {
              expr: `sum by (switchyard_region, switchyard_outcome) (rate(switchyard_calls_total{${R}}[${RATE}]))`,
              legend: '{{switchyard_region}} {{switchyard_outcome}}',
            },
          ],
          { stack: true },
        ),
        timeseries(
          'Server error ratio',
          'percentunit',
          'Server errors over all calls (recorded, 5 min). The availability SLO is 99.9%.',
          [
            {
              expr: `switchyard_region_service:switchyard_call_error_ratio:rate5m{${R}}`,
              legend: '{{switchyard_region}} {{service_name}}',
            },
          ],
          { thresholds: [{ value: 0.001, color: 'red' }] },
        ),
        timeseries(
          'Rejections per second by reason',
          'reqps',
          'Requests refused before reaching a worker: queue full, rate limited, per-key connection limit.',
          [
            {
              expr: `sum by (switchyard_region, switchyard_rejection_reason) (rate(switchyard_rejections_total{${R}}[${RATE}]))`,
              legend: '{{switchyard_region}} {{switchyard_rejection_reason}}',
            },
          ],
        ),
      ],
    },
    {
      title: 'Latency',
      panels: [
        timeseries(
          'Call duration percentiles',
          's',
          'Request headers to stream close at the front ends (recorded bucket rates). Long streaming calls are normal on gRPC.',
          percentiles(
            () =>
              `sum by (le, switchyard_region, service_name) (switchyard_region_service_le:switchyard_call_duration_seconds_bucket:rate5m{${R}})`,
            '{{switchyard_region}} {{service_name}}',
          ),
        ),
        timeseries(
          'Session init p95 (SLI: under 100 ms)',
          's',
          'New gRPC session request to worker attached, 95th percentile (recorded).',
          [
            {
              expr: `switchyard_region:switchyard_session_init_duration_seconds:p95_5m{${R}}`,
              legend: '{{switchyard_region}}',
            },
          ],
          { thresholds: [{ value: 0.1, color: 'red' }] },
        ),
      ],
    },
    {
      title: 'Capacity and sessions',
      panels: [
        timeseries(
          'Free worker capacity by region',
          'short',
          'Free session slots of every worker, summed per region (recorded).',
          [{ expr: `switchyard_region:switchyard_worker_capacity_free:sum{${R}}`, legend: '{{switchyard_region}}' }],
        ),
        timeseries(
          'Sessions per region',
          'short',
          'Sessions with client connections at the proxies, and sessions held by workers.',
          [
            {
              expr: `sum by (switchyard_region, service_name) (switchyard_sessions_active{${R}})`,
              legend: '{{switchyard_region}} {{service_name}}',
            },
          ],
        ),
        timeseries('Tickets queued', 'short', 'Tickets the front ends have waiting for a worker, per region.', [
          {
            expr: `sum by (switchyard_region) (switchyard_region_version:switchyard_tickets_queued:sum{${R}})`,
            legend: '{{switchyard_region}}',
          },
        ]),
        timeseries('Ready instances', 'short', 'Instances whose /readyz answers 200, per region and service.', [
          {
            expr: `sum by (switchyard_region, service_name) (switchyard_ready{${R}})`,
            legend: '{{switchyard_region}} {{service_name}}',
          },
        ]),
      ],
    },
  ],
};

const GRPC = `${R}, service_name="grpc-proxy"`;

/** gRPC proxy: calls, session init and resume, allocation, tickets, client connections. */
export const grpcSessions: DashboardSpec = {
  uid: 'switchyard-grpc-sessions',
  title: 'Switchyard / gRPC sessions',
  description: 'The gRPC proxy: calls, session init and resume, allocation, tickets and client connections.',
  rows: [
    {
      title: 'Calls',
      panels: [
        timeseries('Calls per second by function and outcome', 'reqps', 'Ended calls at the gRPC proxies.', [
          {
            expr: `sum by (switchyard_function_id, switchyard_outcome) (rate(switchyard_calls_total{${GRPC}}[${RATE}]))`,
            legend: '{{switchyard_function_id}} {{switchyard_outcome}}',
          },
        ]),
        timeseries(
          'Call duration percentiles',
          's',
          'Whole gRPC calls (streams included) at the proxies.',
          percentiles(
            () =>
              `sum by (le, switchyard_region) (switchyard_region_service_le:switchyard_call_duration_seconds_bucket:rate5m{${GRPC}})`,
            '{{switchyard_region}}',
          ),
        ),
      ],
    },
    {
      title: 'Sessions',
      panels: [
        timeseries(
          'Session init percentiles (SLI: p95 under 100 ms)',
          's',
          'New session request to worker attached (recorded bucket rates).',
          percentiles(
            () =>
              `sum by (le, switchyard_region) (switchyard_region_le:switchyard_session_init_duration_seconds_bucket:rate5m{${R}})`,
            '{{switchyard_region}}',
          ),
          { thresholds: [{ value: 0.1, color: 'red' }] },
        ),
        timeseries(
          'Resumes per second by source and result',
          'reqps',
          'Resume lookups: found on this proxy (local), another replica, or another region.',
          [
            {
              expr: `sum by (switchyard_region, switchyard_resume_source, switchyard_resume_result) (rate(switchyard_session_resume_duration_seconds_count{${R}}[${RATE}]))`,
              legend: '{{switchyard_region}} {{switchyard_resume_source}} {{switchyard_resume_result}}',
            },
          ],
        ),
        timeseries('Resume duration p95 by source', 's', 'Time to find and reattach a session, by where it was.', [
          {
            expr: `histogram_quantile(0.95, sum by (le, switchyard_resume_source) (rate(switchyard_session_resume_duration_seconds_bucket{${R}}[${RATE}])))`,
            legend: '{{switchyard_resume_source}}',
          },
        ]),
        timeseries('Active sessions per proxy', 'short', 'Sessions with client connections, per proxy instance.', [
          {
            expr: `sum by (switchyard_region, service_instance_id) (switchyard_sessions_active{${GRPC}})`,
            legend: '{{switchyard_region}} {{service_instance_id}}',
          },
        ]),
      ],
    },
    {
      title: 'Allocation and tickets',
      panels: [
        timeseries('Allocations per second by result', 'reqps', 'Tickets answered by a worker, or not.', [
          {
            expr: `sum by (switchyard_region, switchyard_allocation_result) (rate(switchyard_allocations_total{${GRPC}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{switchyard_allocation_result}}',
          },
        ]),
        timeseries('Ticket wait p95', 's', 'Time a ticket waited for a worker.', [
          {
            expr: `histogram_quantile(0.95, sum by (le, switchyard_region) (rate(switchyard_ticket_wait_duration_seconds_bucket{${GRPC}}[${RATE}])))`,
            legend: '{{switchyard_region}}',
          },
        ]),
      ],
    },
    {
      title: 'Client connections',
      panels: [
        timeseries('Client connections by protocol', 'short', 'Open client connections (h2, WebSocket).', [
          {
            expr: `sum by (switchyard_region, switchyard_protocol) (switchyard_client_connections_active{${GRPC}})`,
            legend: '{{switchyard_region}} {{switchyard_protocol}}',
          },
        ]),
        timeseries('Connection absorbs per second by result', 'reqps', 'Connection absorption (DESIGN: absorb).', [
          {
            expr: `sum by (switchyard_region, switchyard_absorb_result) (rate(switchyard_absorbs_total{${GRPC}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{switchyard_absorb_result}}',
          },
        ]),
      ],
    },
  ],
};

const HTTP = `${R}, service_name="invocation"`;

/** HTTP invocation: requests, latency SLI, 202s and polls, allocation, connections. */
export const httpInvocation: DashboardSpec = {
  uid: 'switchyard-http-invocation',
  title: 'Switchyard / HTTP invocation',
  description: 'The invocation service: requests, latency SLI, 202s and status polls, allocation and connections.',
  rows: [
    {
      title: 'Requests',
      panels: [
        timeseries('Requests per second by function and status class', 'reqps', 'Ended HTTP invocations.', [
          {
            expr: `sum by (switchyard_function_id, switchyard_outcome) (rate(switchyard_calls_total{${HTTP}}[${RATE}]))`,
            legend: '{{switchyard_function_id}} {{switchyard_outcome}}',
          },
        ]),
        timeseries(
          'Request duration percentiles (SLI: p95 over 500 ms warns, over 2 s is saturation)',
          's',
          'Request received to response ended (recorded bucket rates).',
          percentiles(
            () =>
              `sum by (le, switchyard_region) (switchyard_region_service_le:switchyard_call_duration_seconds_bucket:rate5m{${HTTP}})`,
            '{{switchyard_region}}',
          ),
          {
            thresholds: [
              { value: 0.5, color: 'orange' },
              { value: 2, color: 'red' },
            ],
          },
        ),
        timeseries(
          'Latency SLO: share of requests over 500 ms',
          'percentunit',
          'Objective: 95% of requests within 500 ms (budget 5%); 5 min and 1 h windows (recorded).',
          [
            { expr: `switchyard_region:switchyard_http_slow_ratio:rate5m{${R}}`, legend: '{{switchyard_region}} 5m' },
            { expr: `switchyard_region:switchyard_http_slow_ratio:rate1h{${R}}`, legend: '{{switchyard_region}} 1h' },
          ],
          { thresholds: [{ value: 0.05, color: 'red' }] },
        ),
        timeseries('Requests in flight', 'short', 'HTTP requests being handled, per instance.', [
          {
            expr: `sum by (switchyard_region, service_instance_id) (switchyard_http_requests_active{${R}})`,
            legend: '{{switchyard_region}} {{service_instance_id}}',
          },
        ]),
      ],
    },
    {
      title: 'Asynchronous results (202)',
      panels: [
        timeseries('202s issued per second', 'reqps', 'Requests still running at the end of their poll window.', [
          {
            expr: `sum by (switchyard_region, switchyard_function_id) (rate(switchyard_results_accepted_total{${R}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{switchyard_function_id}}',
          },
        ]),
        timeseries('Status polls per second by result', 'reqps', 'GET /v2/nvcf/pexec/status/{id} answers.', [
          {
            expr: `sum by (switchyard_region, switchyard_poll_result) (rate(switchyard_status_polls_total{${R}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{switchyard_poll_result}}',
          },
        ]),
      ],
    },
    {
      title: 'Allocation and connections',
      panels: [
        timeseries('Allocations per second by result', 'reqps', 'Tickets answered by a worker, or not.', [
          {
            expr: `sum by (switchyard_region, switchyard_allocation_result) (rate(switchyard_allocations_total{${HTTP}}[${RATE}]))`,
            legend: '{{switchyard_region}} {{switchyard_allocation_result}}',
          },
        ]),
        timeseries('Ticket wait p95', 's', 'Time a ticket waited for a worker.', [
          {
            expr: `histogram_quantile(0.95, sum by (le, switchyard_region) (rate(switchyard_ticket_wait_duration_seconds_bucket{${HTTP}}[${RATE}])))`,
            legend: '{{switchyard_region}}',
          },
        ]),
        timeseries('Client connections by protocol', 'short', 'Open client connections (HTTP/1.1, h2).', [
          {
            expr: `sum by (switchyard_region, switchyard_protocol) (switchyard_client_connections_active{${HTTP}})`,
            legend: '{{switchyard_region}} {{switchyard_protocol}}',
          },
        ]),
      ],
    },
  ],
};
