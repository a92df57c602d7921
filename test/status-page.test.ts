// The live status page and `switchyard status` against two real regions (real processes: NATS
// supercluster, Redis, api, grpc-proxy, invocation, echo containers and workers per region), read in
// headless Chromium (Debian's /usr/bin/chromium driven by playwright-core). The page signs in with
// the admin token, shows both regions, and shows a worker stopping (SIGTERM: its leaving beat) and a
// worker dying (SIGKILL: its beats stop) within seconds, without a reload. Without the sign-in the
// page and GET /v1/status answer 401 and no data. Screenshots go to a temp dir, never into git.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { RegionLiveStatus } from '@switchyard/api';
import { type CliIo, runCli } from '@switchyard/cli';
import { type LaunchedChild, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import { waitFor } from '@switchyard/testkit';
import { type Browser, chromium } from 'playwright-core';
import { echoClient, unary } from '../services/worker/test/helpers.ts';
import { adminApi } from './admin-api.ts';

const REGIONS = ['east', 'west'] as const;
const ADMIN_TOKEN = `ui_${randomBytes(12).toString('hex')}`;
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];
/** Heartbeats every second, so a killed worker is stale after 2 s (D2). */
const HEARTBEAT_ENV = { SWITCHYARD_HEARTBEAT_INTERVAL_MS: '1000' };
/** Time the page gets to show a change: 2 missed beats + one 2 s poll + slack for a loaded machine. */
const PAGE_CHANGE_MS = 10_000;
/** The echo function's reconnect window: longer than this file runs, so the call's session stays held. */
const SESSION_WINDOW_MS = 600_000;

let launch: RegionsLaunch;
let stateDir: string;
let browser: Browser;
let echo = { functionId: '', versionId: '' };
let apiKey = '';
const workers: Record<string, LaunchedChild> = {};

/** A CliIo that keeps what the command printed. */
function recordingIo(cwd: string): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    env: {},
    cwd,
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}

const apiOf = (region: string) => launch.regions[region].endpoints.api;

const api = adminApi(() => apiOf('east'), ADMIN_TOKEN);

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'switchyard-status-page-'));
  launch = await launchRegions({
    regions: REGIONS.map((name) => ({ name })),
    stateDir,
    logDir: join(stateDir, 'logs'),
    redis: true,
    services: ['api', 'grpc-proxy', 'invocation'],
    adminToken: ADMIN_TOKEN,
    samples: () => [{ name: 'echo', sample: 'echo', instanceId: 'echo' }],
    serviceEnv: { 'grpc-proxy': HEARTBEAT_ENV, invocation: HEARTBEAT_ENV, worker: HEARTBEAT_ENV },
  });
  // The session of the one call below outlives its connection by the reconnect window (S1, W3) and
  // holds a capacity unit meanwhile; a window longer than this file keeps that state fixed.
  echo = await api('POST', '/v1/functions', { name: 'echo', kind: 'grpc', reconnectWindowMs: SESSION_WINDOW_MS });
  apiKey = (await api<{ key: string }>('POST', '/v1/keys', { functions: '*', description: 'status page' })).key;
  for (const [region, workerId] of [
    ['east', 'w-east-1'],
    ['east', 'w-east-2'],
    ['west', 'w-west-1'],
  ] as const) {
    workers[workerId] = launch.startWorker({
      region,
      name: workerId,
      workerId,
      functionId: echo.functionId,
      versionId: echo.versionId,
      upstream: `grpc://127.0.0.1:${launch.regions[region].samples.echo.port}`,
      concurrency: 4,
      callbackAllowList: ['http://127.0.0.1:'],
      env: HEARTBEAT_ENV,
    });
  }
  await launch.waitReady(Object.values(workers));
  // One call through the east proxy: its heartbeat's call summary is then non-empty.
  const client = echoClient(launch.regions.east.endpoints.grpc);
  try {
    await unary(
      client,
      { payload: Buffer.from('status') },
      { authorization: `Bearer ${apiKey}`, 'function-id': echo.functionId },
    );
  } finally {
    client.close();
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
});

after(async () => {
  await browser?.close();
  await launch?.stop();
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
});

describe('switchyard status', () => {
  test('should print both regions as a table, and the API document with --json', async () => {
    const io = recordingIo(stateDir);
    const flags = ['--api', apiOf('east'), '--admin-token', ADMIN_TOKEN];
    // What the table shows comes from heartbeats: the call of `before` is in them only after the
    // proxy's and the worker's next beats (on a loaded machine, later than the table is asked for).
    let seen = '';
    await waitFor(
      async () => {
        const east = (await api<{ regions: RegionLiveStatus[] }>('GET', '/v1/status')).regions.find(
          (r) => r.region === 'east',
        );
        seen = JSON.stringify({ calls: east?.calls, versions: east?.versions });
        const version = east?.versions.find((v) => v.versionId === echo.versionId);
        // Free 7 as well: a beat taken while the worker was still taking the ticket counts its unit
        // twice (the reservation and the new session, WorkerCapacity.free), until the next beat.
        return east?.calls.count === 1 && version?.sessions === 1 && version.freeCapacity === 7;
      },
      { timeoutMs: PAGE_CHANGE_MS, what: 'the call and its session in the east beats' },
    ).catch((err: Error) => assert.fail(`${err.message}: last seen ${seen}`));
    assert.equal(await runCli(['status', ...flags], io), 0, io.err);
    const lines = io.out.split('\n');
    assert.match(lines[0], /^REGION\s+HEALTH\s+PROXIES\s+INVOCATION\s+WORKERS\s+SESSIONS\s+CALLS\/MIN\s+ERRORS/);
    for (const region of REGIONS)
      assert.ok(
        lines.some((l) => new RegExp(`^${region}\\s+healthy\\s+1\\s+1\\s+`).test(l)),
        io.out,
      );
    // Two workers of 4 units; the call's session (in its reconnect window) holds one of them.
    assert.match(io.out, new RegExp(`east\\s+${echo.versionId}\\s+2\\s+1\\s+7\\s+8\\s+1\\n`));
    assert.match(io.out, /^east\s+healthy\s+1\s+1\s+2\s+1\s+1\s+0\s/m);
    assert.match(io.out, /east\s+worker\s+w-east-1\s/);

    const json = recordingIo(stateDir);
    assert.equal(await runCli(['status', '--json', ...flags], json), 0, json.err);
    const doc = JSON.parse(json.out) as {
      servedBy: string;
      regions: { region: string; healthy: boolean; workers: { instanceId: string }[]; proxies: unknown[] }[];
    };
    assert.equal(doc.servedBy, 'east');
    assert.deepEqual(
      doc.regions.map((r) => [r.region, r.healthy, r.proxies.length]),
      [
        ['east', true, 1],
        ['west', true, 1],
      ],
    );
    assert.deepEqual(
      doc.regions[0].workers.map((w) => w.instanceId),
      ['w-east-1', 'w-east-2'],
    );

    const denied = recordingIo(stateDir);
    assert.equal(await runCli(['status', '--api', apiOf('east'), '--admin-token', 'x'.repeat(20)], denied), 1);
    assert.match(denied.err, /HTTP 401 SY_ADMIN_TOKEN_INVALID/);
  });
});

describe('the live status page in Chromium', () => {
  test('should answer 401 and no data to a browser that has not signed in', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const res = await page.goto(`${apiOf('east')}/ui`);
      assert.equal(res?.status(), 401);
      assert.equal(await page.locator('form[action="/ui/login"]').count(), 1);
      assert.equal(await page.locator('[data-region]').count(), 0);
      const status = await page.evaluate(async () => {
        const r = await fetch('/v1/status');
        return { status: r.status, body: await r.text() };
      });
      assert.equal(status.status, 401);
      assert.ok(!status.body.includes('east') && !status.body.includes('w-east-1'), status.body);
    } finally {
      await context.close();
    }
  });

  test('should sign in, show both regions, and show a worker stopping and one dying without a reload', {
    timeout: 120_000,
  }, async () => {
    // Screenshots: a temp dir removed afterwards, or SWITCHYARD_SCREENSHOT_DIR (kept; never in the repo).
    const keep = process.env.SWITCHYARD_SCREENSHOT_DIR;
    const shots = keep ?? mkdtempSync(join(tmpdir(), 'switchyard-status-shots-'));
    const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
    try {
      const page = await context.newPage();
      await page.goto(`${apiOf('west')}/ui`);
      await page.fill('#token', ADMIN_TOKEN);
      await Promise.all([page.waitForURL(/\/ui$/), page.click('button[type="submit"]')]);
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'switchyard_ui');
      assert.ok(session?.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
      for (const region of REGIONS) await page.locator(`[data-region="${region}"]`).waitFor();
      for (const id of Object.keys(workers)) await page.locator(`[data-worker="${id}"]`).waitFor();
      const east = page.locator('[data-region="east"]');
      assert.equal(await east.getAttribute('data-healthy'), 'true');
      assert.equal(await east.locator('[data-kind="grpc-proxy"]').count(), 1);
      assert.equal(await east.locator('[data-kind="invocation"]').count(), 1);
      assert.equal(await east.locator(`[data-version="${echo.versionId}"]`).count(), 1);
      // The east proxy's one call shows up in its last-minute summary (its next beat carries it).
      await page.waitForFunction(
        () =>
          document.querySelector('[data-region="east"] [data-kind="grpc-proxy"] td:nth-child(3)')?.textContent === '1',
        undefined,
        { timeout: PAGE_CHANGE_MS },
      );
      await page.screenshot({ path: join(shots, 'before.png'), fullPage: true });
      await page.evaluate(() => {
        (window as unknown as { notReloaded: boolean }).notReloaded = true;
      });

      // SIGTERM: the worker's leaving beat drops it at once; the next poll shows it gone.
      let from = Date.now();
      await workers['w-east-2'].stop();
      await page.locator('[data-worker="w-east-2"]').waitFor({ state: 'detached', timeout: PAGE_CHANGE_MS });
      const stopShownMs = Date.now() - from;
      assert.equal(await page.locator('[data-worker="w-east-1"]').count(), 1);
      // SIGKILL: no leaving beat; the worker is stale after 2 missed beats.
      from = Date.now();
      workers['w-west-1'].kill('SIGKILL');
      await page.locator('[data-worker="w-west-1"]').waitFor({ state: 'detached', timeout: PAGE_CHANGE_MS });
      const deathShownMs = Date.now() - from;
      await page.locator('[data-region="west"]').getByText('no worker beating').first().waitFor();
      assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true);
      await page.screenshot({ path: join(shots, 'after.png'), fullPage: true });
      process.stdout.write(
        `# page showed the stopped worker gone after ${stopShownMs} ms, the killed one after ${deathShownMs} ms\n`,
      );
    } finally {
      await context.close();
      if (keep === undefined) rmSync(shots, { recursive: true, force: true });
    }
  });
});
