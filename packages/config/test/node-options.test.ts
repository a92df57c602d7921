import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { missingNodeOptions, SERVICE_NODE_OPTIONS } from '../src/index.ts';

describe('SERVICE_NODE_OPTIONS', () => {
  test('the invocation service and the worker bound the young generation; the others add nothing', () => {
    assert.deepEqual(SERVICE_NODE_OPTIONS.invocation, ['--max-semi-space-size=1']);
    assert.deepEqual(SERVICE_NODE_OPTIONS.worker, ['--max-semi-space-size=1']);
    assert.deepEqual(SERVICE_NODE_OPTIONS['grpc-proxy'], []);
    assert.throws(() => {
      (SERVICE_NODE_OPTIONS as unknown as Record<string, string[]>).api = ['--x'];
    }, TypeError);
  });

  test('missingNodeOptions looks in execArgv and NODE_OPTIONS, by option name', () => {
    assert.deepEqual(missingNodeOptions('invocation', [], undefined), ['--max-semi-space-size=1']);
    assert.deepEqual(missingNodeOptions('invocation', ['--max-semi-space-size=1'], undefined), []);
    assert.deepEqual(missingNodeOptions('worker', [], '--inspect --max-semi-space-size=4'), [], 'own value kept');
    assert.deepEqual(missingNodeOptions('worker', ['--max_semi_space_size=2'], ''), [], 'V8 spelling');
    assert.deepEqual(missingNodeOptions('grpc-proxy', [], undefined), []);
  });

  test('a Node started with the invocation options keeps its young generation at 1 MiB per semi-space', () => {
    const script = `
      const v8 = require('node:v8');
      let keep = [];
      for (let i = 0; i < 300000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 40000) keep = keep.slice(20000); }
      const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      process.stdout.write(String(ns.space_size));`;
    const run = (options: readonly string[]) => {
      const r = spawnSync(process.execPath, [...options, '-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return Number(r.stdout) / 1024 / 1024;
    };
    const bounded = run(SERVICE_NODE_OPTIONS.invocation);
    const unbounded = run([]);
    assert.ok(bounded <= 2, `new space ${bounded} MiB with the options`);
    assert.ok(unbounded > bounded, `new space ${unbounded} MiB without them`);
  });
});
