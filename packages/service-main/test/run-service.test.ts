// runService with a stand-in process: config errors exit 1 with every problem, start-up failures
// exit 1 with their message, the ready line is the one stdout line, and a signal drains in order,
// telemetry last, exit 0 (1 when the drain outlives its bound).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '@switchyard/config';
import { type RunningService, runService, type ServiceProcess } from '../src/index.ts';

/** A process that records what runService does with it. */
function fakeProcess() {
  const exits: number[] = [];
  const signals = new Map<string, () => void>();
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
  };
  return { proc, exits, signals, out: () => out, err: () => err, exited: exitedOnce };
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
});
