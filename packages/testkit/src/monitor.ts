// Reads nats-server's HTTP monitoring endpoints (/healthz, /jsz, /gatewayz) without keeping
// connections alive, so a stopped server never leaves a pooled socket behind.

import { get } from 'node:http';

/** One monitoring response: HTTP status and parsed JSON body (undefined when not JSON). */
export interface MonitorResponse {
  status: number;
  body: unknown;
}

/**
 * GET `http://127.0.0.1:<port><path>` and parse the JSON body.
 *
 * @param port monitoring port of the server.
 * @param path path with query, e.g. `/healthz`.
 * @param timeoutMs abort the request after this many milliseconds.
 * @throws the socket error or a timeout Error.
 */
export function getMonitor(port: number, path: string, timeoutMs = 2000): Promise<MonitorResponse> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} on port ${port} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
