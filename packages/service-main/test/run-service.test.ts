// runService with a stand-in process: config errors exit 1 with every problem, start-up failures
// exit 1 with their message, the ready line is the one stdout line, and a signal drains in order,
// telemetry last, exit 0 (1 when the drain outlives its bound).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '@switchyard/config';
import { type FatalKind, type RunningService, runService, type ServiceProcess } from '../src/index.ts';

/** A process that records what runService does with it. */
function fakeProcess() {
  const exits: number[] = [];
  const signals = new Map<string, () => void>();
  let fatal: ((kind: FatalKind, err: unknown) => void) | undefined;
  let out = '';
  let err = '';
  let exited: (code: number) => void = () => {};
  const exitedOnce = new Promise<number>((resolve) => {
    exited = resolve;
  });
  const proc: ServiceProcess = {
    exit: (code) => {
      exits.push(code);
      exited(code);
    },
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    onSignal: (signal, handler) => void signals.set(signal, handler),
    onFatal: (handler) => {
      fatal = handler;
    },
  };
  const raise = (kind: FatalKind, error: unknown) => fatal?.(kind, error);
  return { proc, exits, signals, raise, out: () => out, err: () => err, exited: exitedOnce };
}

const identity = { region: 'local', instanceId: 'test-1', metricsPort: 0 };
process.env.SWITCHYARD_LOG_LEVEL ??= 'silent';

describe('runService', () => {
  test('should exit 1 printing every configuration problem when the config is invalid', async () => {
    const p = fakeProcess();
    let started = false;
    await runService(
      {
        service: 'api',
        loadConfig: () => {
          throw new ConfigError('api', [
            'SWITCHYARD_PORT (port): expected a number',
            'SWITCHYARD_REGION (region): bad',
          ]);
        },
        identify: () => identity,
        start: async () => {
          started = true;
          throw new Error('not reached');
        },
      },
      p.proc,
    );
    assert.deepEqual(p.exits, [1]);
    assert.match(p.err(), /SWITCHYARD_PORT/);
    assert.match(p.err(), /SWITCHYARD_REGION/);
    assert.equal(started, false);
    assert.equal(p.out(), '');
  });

  test('should let an error other than ConfigError from loadConfig through', async () => {
    const p = fakeProcess();
    await assert.rejects(
      runService(
        {
          service: 'api',
          loadConfig: () => {
            throw new RangeError('a bug');
          },
          identify: () => identity,
          start: async () => ({ readyLog: {}, readyLine: {}, drain: [] }),
        },
        p.proc,
      ),
      RangeError,
    );
    assert.deepEqual(p.exits, []);
  });

  test('should exit 1 with "could not listen" and the hint when listen rejects', async () => {
    const p = fakeProcess();
    await runService(
      {
        service: 'geodns',
        loadConfig: () => ({}),
        identify: () => ({ ...identity, region: undefined }),
        start: async ({ listen }) => {
          await listen(Promise.reject(new Error('EADDRINUSE 127.0.0.1:53')), 'set SWITCHYARD_PORT / SWITCHYARD_HOST');
          throw new Error('not reached');
        },
      },
      p.proc,
    );
    assert.deepEqual(p.exits, [1]);
    assert.equal(
      p.err(),
      'geodns: could not listen: EADDRINUSE 127.0.0.1:53 (set SWITCHYARD_PORT / SWITCHYARD_HOST)\n',
    );
    assert.equal(p.out(), '');
  });

  test('should exit 1 with "<service> failed to start" when start rejects otherwise', async () => {
    const p = fakeProcess();
    await runService(
      {
        service: 'worker',
        loadConfig: () => ({}),
        identify: () => identity,
        start: async () => {
          throw new Error('NATS is not there');
        },
      },
      p.proc,
    );
    assert.deepEqual(p.exits, [1]);
    assert.match(p.err(), /^worker failed to start: Error: NATS is not there/);
  });

  test('should print one ready line, then drain in order on SIGTERM, telemetry last, and exit 0', async () => {
    const p = fakeProcess();
    const order: string[] = [];
    let seenConfig: unknown;
    await runService(
      {
        service: 'grpc-proxy',
        loadConfig: () => Object.freeze({ answer: 42 }),
        identify: () => ({ ...identity, logFields: { proxyId: 'p-1' } }),
        start: async ({ config, telemetry, listen }): Promise<RunningService> => {
          seenConfig = config;
          assert.ok(telemetry.meter, 'telemetry is started before start()');
          const ports = await listen(Promise.resolve({ port: 1234, callbackPort: 5678 }), 'unused');
          return {
            readyLog: ports,
            readyLine: { proxyId: 'p-1', ...ports },
            drainMessage: 'GOAWAY to clients',
            forceExitAfterMs: 10_000,
            drain: [
              { name: 'first', run: async () => void order.push('first') },
              {
                name: 'failing',
                run: () => {
                  order.push('failing');
                  throw new Error('already closed');
                },
              },
              { name: 'last', run: async () => void order.push('last') },
            ],
          };
        },
      },
      p.proc,
    );
    assert.deepEqual(seenConfig, { answer: 42 });
    assert.deepEqual(p.exits, []);
    assert.equal(p.out(), '{"ready":true,"service":"grpc-proxy","proxyId":"p-1","port":1234,"callbackPort":5678}\n');
    assert.deepEqual([...p.signals.keys()].sort(), ['SIGINT', 'SIGTERM']);
    p.signals.get('SIGTERM')?.();
    p.signals.get('SIGINT')?.(); // a second signal does not start a second drain
    assert.equal(await p.exited, 0);
    assert.deepEqual(order, ['first', 'failing', 'last'], 'a failed step does not stop the drain');
    assert.deepEqual(p.exits, [0]);
  });

  test('should handle SIGTERM and SIGINT before it prints the ready line', async () => {
    // A supervisor may signal the instant it reads the line; a signal before the handlers exist
    // takes its default action (the process dies with 143, no drain).
    const p = fakeProcess();
    const handledWhenReady: string[][] = [];
    const proc: ServiceProcess = {
      ...p.proc,
      stdout: (text) => {
        handledWhenReady.push([...p.signals.keys()].sort());
        p.proc.stdout(text);
      },
    };
    await runService(
      {
        service: 'invocation',
        loadConfig: () => ({}),
        identify: () => identity,
        start: async () => ({ readyLog: {}, readyLine: {}, drain: [] }),
      },
      proc,
    );
    assert.match(p.out(), /^\{"ready":true,"service":"invocation"/);
    assert.deepEqual(handledWhenReady, [['SIGINT', 'SIGTERM']]);
    p.signals.get('SIGTERM')?.();
    assert.equal(await p.exited, 0);
  });

  test('should exit 1 when the drain outlives forceExitAfterMs', async () => {
    const p = fakeProcess();
    await runService(
      {
        service: 'invocation',
        loadConfig: () => ({}),
        identify: () => identity,
        start: async () => ({
          readyLog: {},
          readyLine: { port: 1 },
          forceExitAfterMs: 50,
          drain: [{ name: 'stuck', run: () => new Promise((resolve) => setTimeout(resolve, 400)) }],
        }),
      },
      p.proc,
    );
    p.signals.get('SIGINT')?.();
    assert.equal(await p.exited, 1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(p.exits, [1, 0], 'the stand-in process does not end at the first exit');
  });

  test('a fault nothing handled before the ready line exits 1 at once, naming it', async () => {
    const p = fakeProcess();
    let release: () => void = () => {};
    const run = runService(
      {
        service: 'api',
        loadConfig: () => ({}),
        identify: () => identity,
        start: () =>
          new Promise<RunningService>((resolve) => {
            release = () => resolve({ readyLog: {}, readyLine: {}, drain: [] });
          }),
      },
      p.proc,
    );
    await new Promise((resolve) => setImmediate(resolve));
    p.raise('unhandledRejection', new Error('lost promise'));
    assert.equal(await p.exited, 1);
    assert.match(p.err(), /api: unhandledRejection: Error: lost promise/);
    release();
    await run;
  });

  test('a fault nothing handled after the ready line drains, then exits 1; one during the drain exits 1 now', async () => {
    const p = fakeProcess();
    const order: string[] = [];
    let unblock: () => void = () => {};
    await runService(
      {
        service: 'worker',
        loadConfig: () => ({}),
        identify: () => identity,
        start: async () => ({
          readyLog: {},
          readyLine: {},
          drain: [
            { name: 'tunnels', run: () => void order.push('tunnels') },
            {
              name: 'slow',
              run: () =>
                new Promise<void>((resolve) => {
                  order.push('slow');
                  unblock = resolve;
                }),
            },
          ],
        }),
      },
      p.proc,
    );
    p.raise('uncaughtException', new TypeError('x is undefined'));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(order, ['tunnels', 'slow'], 'the drain runs after a fault');
    assert.deepEqual(p.exits, []);
    unblock();
    assert.equal(await p.exited, 1, 'the drained process still exits 1');

    const q = fakeProcess();
    await runService(
      {
        service: 'worker',
        loadConfig: () => ({}),
        identify: () => identity,
        start: async () => ({
          readyLog: {},
          readyLine: {},
          drain: [{ name: 'stuck', run: () => new Promise(() => {}) }],
        }),
      },
      q.proc,
    );
    q.signals.get('SIGTERM')?.();
    q.raise('unhandledRejection', new Error('during drain'));
    assert.equal(await q.exited, 1);
  });
});

describe('runService in a real process', () => {
  test('an unhandled rejection after start is logged with its context, drained, and ends the process with exit 1', async () => {
    const entry = new URL('../src/index.ts', import.meta.url).href;
    const script = `
      import { runService } from ${JSON.stringify(entry)};
      await runService({
        service: 'geodns',
        loadConfig: () => ({}),
        identify: () => ({ region: undefined, instanceId: 'fatal-1', metricsPort: 0 }),
        start: async () => {
          setTimeout(() => { Promise.reject(new Error('nobody awaited me')); }, 50);
          return { readyLog: {}, readyLine: {}, drain: [{ name: 'mark', run: () => process.stdout.write('drained\\n') }] };
        },
      });
      setInterval(() => {}, 1000); // a live handle: only the policy ends this process
    `;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 1, err);
    assert.match(out, /"ready":true/);
    assert.match(out, /drained/);
    const fatalLine = (out + err).split('\n').find((l) => l.includes('"level":"fatal"'));
    assert.ok(fatalLine, `a fatal log line: ${out}${err}`);
    assert.match(fatalLine, /"kind":"unhandledRejection"/);
    assert.match(fatalLine, /nobody awaited me/);
    assert.match(out + err, /"fault":"unhandledRejection","msg":"stopping"/);
  });
});
