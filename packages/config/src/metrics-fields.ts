// Config fields every service shares for its metrics port (GET /metrics, /healthz, /readyz).

import { z } from 'zod';

/**
 * Spread into a service's config schema: `SWITCHYARD_METRICS_ENABLED` (default true),
 * `SWITCHYARD_METRICS_HOST` (default loopback) and `SWITCHYARD_METRICS_PORT` (0 = an ephemeral port,
 * printed in the ready line as `metrics`; production sets a fixed one, the Helm chart 9464).
 */
export const metricsFields = {
  metricsEnabled: z
    .boolean()
    .default(true)
    .describe(
      'Serve /metrics (Prometheus), /healthz and /readyz on the metrics port. false: no port, and nothing is recorded (a no-op meter).',
    ),
  metricsHost: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe('Address the metrics port binds (loopback unless configured; 0.0.0.0 for a scraper elsewhere).'),
  metricsPort: z
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(0)
    .describe('Metrics port (/metrics, /healthz, /readyz); 0 = an ephemeral port, shown in the ready line.'),
};
