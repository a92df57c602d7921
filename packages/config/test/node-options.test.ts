import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { missingNodeOptions, SERVICE_NODE_OPTIONS, startServiceRuntime } from '../src/index.ts';

describe('SERVICE_NODE_OPTIONS', () => {
  test('the invocation service and the worker expose gc; the others add nothing', () => {
    assert.deepEqual(SERVICE_NODE_OPTIONS.invocation, ['--expose-gc']);
    assert.deepEqual(SERVICE_NODE_OPTIONS.worker, ['--expose-gc']);
    assert.deepEqual(SERVICE_NODE_OPTIONS['grpc-proxy'], []);
    assert.throws(() => {
      (SERVICE_NODE_OPTIONS as unknown as Record<string, string[]>).api = ['--x'];
    }, TypeError);
  });

  test('missingNodeOptions looks in execArgv and NODE_OPTIONS, by option name', () => {
    assert.deepEqual(missingNodeOptions('invocation', [], undefined), ['--expose-gc']);
    assert.deepEqual(missingNodeOptions('invocation', ['--expose-gc'], undefined), []);
    assert.deepEqual(missingNodeOptions('worker', [], '--inspect --expose-gc'), []);
    assert.deepEqual(missingNodeOptions('worker', ['--expose_gc'], ''), [], 'V8 spelling');
    assert.deepEqual(missingNodeOptions('worker', ['--expose-gc=true'], ''), [], 'a value of its own');
    assert.deepEqual(missingNodeOptions('grpc-proxy', [], undefined), []);
  });

  // A child Node streams 256 MiB through 64 KiB Buffers that die at once, as a relayed body does,
  // and reports the most memory ArrayBuffers held at any step.
  const streamScript = (reclaim: boolean) => `
    import { startBufferReclaimer } from ${JSON.stringify(new URL('../src/buffer-reclaimer.ts', import.meta.url).href)};
    const reclaimer = ${reclaim} ? startBufferReclaimer() : undefined;
    let peak = 0;
    for (let step = 0; step < 1024; step++) {
      for (let i = 0; i < 4; i++) Buffer.alloc(65536).fill(i);
      peak = Math.max(peak, process.memoryUsage().arrayBuffers);
      await new Promise((r) => setTimeout(r, 1));
    }
    process.stdout.write(JSON.stringify({ peakMiB: peak / 1048576, collections: reclaimer?.collections ?? -1 }));`;
  const stream = (options: readonly string[], reclaim: boolean) => {
    const r = spawnSync(process.execPath, [...options, '--input-type=module', '-e', streamScript(reclaim)], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { peakMiB: number; collections: number };
  };

  test('startBufferReclaimer keeps spent Buffers of a stream well under V8 external-memory trigger', () => {
    const reclaimed = stream(SERVICE_NODE_OPTIONS.invocation, true);
    assert.ok(reclaimed.collections > 0, 'it asked for young-generation collections');
    assert.ok(reclaimed.peakMiB < 32, `peak ${reclaimed.peakMiB.toFixed(1)} MiB of ArrayBuffers with the reclaimer`);
    const plain = stream(SERVICE_NODE_OPTIONS.invocation, false);
    assert.ok(plain.peakMiB > 48, `peak ${plain.peakMiB.toFixed(1)} MiB without it`);
  });

  test('startBufferReclaimer starts nothing without --expose-gc', () => {
    assert.equal(stream([], true).collections, -1);
  });

  test('startServiceRuntime warns about missing options and starts no reclaimer without gc', () => {
    const warnings: { details: object; message: string }[] = [];
    const log = { warn: (details: object, message: string) => warnings.push({ details, message }) };
    const withGc = typeof (globalThis as { gc?: unknown }).gc === 'function';
    const reclaimer = startServiceRuntime('invocation', log);
    reclaimer?.stop();
    assert.equal(reclaimer === undefined, !withGc);
    if (!withGc) {
      assert.equal(warnings.length, 1);
      assert.deepEqual(warnings[0]?.details, { missingOptions: ['--expose-gc'] });
      assert.match(warnings[0]?.message ?? '', /Node options/);
    }
    warnings.length = 0;
    assert.equal(startServiceRuntime('grpc-proxy', log) === undefined, !withGc);
    assert.equal(warnings.length, 0, 'the gRPC proxy needs no options');
  });
});
