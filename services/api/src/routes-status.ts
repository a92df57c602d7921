// The live status of every region: GET /v1/status (JSON; admin token, or the status page's cookie),
// and the status page itself under /ui: plain HTML, CSS and a script that polls /v1/status (static
// files in services/api/ui, read once at build; no framework, no CDN). See ui-session.ts for why the
// page logs in with a form and a cookie.

import { readFileSync } from 'node:fs';
import type { RegionHealthView } from '@switchyard/region-health';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { adminTokenCheck } from './admin-auth.ts';
import { buildStatus } from './status-summary.ts';
import type { UiSessions } from './ui-session.ts';

/** Path of the status page. */
export const STATUS_PAGE_PATH = '/ui';
/** Path of the JSON status the page and `switchyard status` read. */
export const STATUS_PATH = '/v1/status';

/**
 * How a route authenticates (fastify route `config.auth`): `admin` (the default) needs the bearer
 * admin token; `admin-or-ui` also takes the status page's session cookie; `none` is open.
 */
export type RouteAuth = 'admin' | 'admin-or-ui' | 'none';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** See {@link RouteAuth}. @default 'admin' */
    auth?: RouteAuth;
  }
}

/** What the status routes need. */
export interface StatusRouteDeps {
  /** Region of this API. */
  region: string;
  /** Heartbeats of every region; undefined: the status lists no region. */
  health: RegionHealthView | undefined;
  adminToken: string;
  sessions: UiSessions;
}

const ASSETS = {
  'status.js': 'text/javascript; charset=utf-8',
  'status.css': 'text/css; charset=utf-8',
} as const;

/** Headers of every page and asset: nothing from elsewhere, no framing, no sniffing, no caching of data. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function uiFile(name: string): string {
  return readFileSync(new URL(`../ui/${name}`, import.meta.url), 'utf8');
}

/** Registers GET /v1/status, GET /ui, GET /ui/<asset>, POST /ui/login and POST /ui/logout. */
export function registerStatusRoutes(app: FastifyInstance, deps: StatusRouteDeps): void {
  const page = uiFile('index.html');
  const login = uiFile('login.html');
  const assets = new Map(Object.entries(ASSETS).map(([name, type]) => [name, { body: uiFile(name), type }]));
  const checkAdmin = adminTokenCheck(deps.adminToken);
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(body);
  const loginPage = (reply: FastifyReply, status: number, error: string) =>
    html(reply, status, login.replace('<!--error-->', error));

  app.get(STATUS_PATH, { config: { auth: 'admin-or-ui' } }, async (_req, reply) =>
    reply.header('cache-control', 'no-store').send(buildStatus(deps.health, deps.region)),
  );

  app.get(STATUS_PAGE_PATH, { config: { auth: 'none' } }, async (req, reply) =>
    deps.sessions.valid(req.headers.cookie) ? html(reply, 200, page) : loginPage(reply, 401, ''),
  );

  for (const [name, asset] of assets)
    app.get(`${STATUS_PAGE_PATH}/${name}`, { config: { auth: 'none' } }, async (_req, reply) =>
      reply.headers(PAGE_HEADERS).type(asset.type).send(asset.body),
    );

  app.register(async (ui) => {
    // The login form posts application/x-www-form-urlencoded; only these routes parse it.
    ui.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: 4_096 },
      (_req, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );
    ui.post<{ Body: { token?: unknown } }>(
      `${STATUS_PAGE_PATH}/login`,
      { config: { auth: 'none' } },
      async (req, reply) => {
        const token = typeof req.body?.token === 'string' ? req.body.token : '';
        try {
          checkAdmin(`Bearer ${token}`);
        } catch {
          req.log.warn('status page login with a wrong admin token');
          return loginPage(reply, 401, '<p class="error" role="alert">That is not the admin token of this API.</p>');
        }
        return reply.code(303).header('set-cookie', deps.sessions.issue()).header('location', STATUS_PAGE_PATH).send();
      },
    );
    ui.post(`${STATUS_PAGE_PATH}/logout`, { config: { auth: 'none' } }, async (_req, reply) =>
      reply.code(303).header('set-cookie', deps.sessions.clear()).header('location', STATUS_PAGE_PATH).send(),
    );
  });
}
