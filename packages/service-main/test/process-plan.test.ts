// Issue 12: what makes each process of a front end its own replica (instance ID, callback and
// metrics ports, callback URI), and the configuration a cluster cannot serve.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@switchyard/config';
import { frontEndChildEnv, frontEndProcessPlan } from '../src/index.ts';

const base = { idVar: 'SWITCHYARD_PROXY_ID', id: 'proxy-a', callbackPort: 10086, metricsPort: 9464 };

test('child i gets <id>-i and the callback and metrics ports offset by i', () => {
  assert.deepEqual(frontEndChildEnv(base, 0), {
    SWITCHYARD_PROXY_ID: 'proxy-a-0',
    SWITCHYARD_CALLBACK_PORT: '10086',
    SWITCHYARD_METRICS_PORT: '9464',
  });
  assert.deepEqual(frontEndChildEnv(base, 3), {
    SWITCHYARD_PROXY_ID: 'proxy-a-3',
    SWITCHYARD_CALLBACK_PORT: '10089',
    SWITCHYARD_METRICS_PORT: '9467',
  });
});

test('ephemeral ports stay 0 (each child binds its own)', () => {
  const env = frontEndChildEnv({ ...base, callbackPort: 0, metricsPort: 0 }, 1);
  assert.equal(env.SWITCHYARD_CALLBACK_PORT, '0');
  assert.equal(env.SWITCHYARD_METRICS_PORT, '0');
  assert.equal(env.SWITCHYARD_CALLBACK_URI, undefined);
});

test("a configured callback URI's port is offset like the callback port (default ports included)", () => {
  assert.equal(
    frontEndChildEnv({ ...base, callbackUri: 'https://10.0.1.11:10086' }, 2).SWITCHYARD_CALLBACK_URI,
    'https://10.0.1.11:10088',
  );
  assert.equal(
    frontEndChildEnv({ ...base, callbackUri: 'https://proxy-a.example' }, 1).SWITCHYARD_CALLBACK_URI,
    'https://proxy-a.example:444',
  );
});

test('several processes with an ephemeral callback port and a fixed callback URI is a config problem', () => {
  const input = { ...base, callbackPort: 0, callbackUri: 'http://10.0.0.1:10086' };
  assert.throws(
    () => frontEndProcessPlan('grpc-proxy', 2, input),
    (err: ConfigError) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /SWITCHYARD_CALLBACK_PORT=0/);
      return true;
    },
  );
  assert.equal(frontEndProcessPlan('grpc-proxy', 1, input).count, 1);
  assert.equal(frontEndProcessPlan('grpc-proxy', 2, base).childEnv(1).SWITCHYARD_PROXY_ID, 'proxy-a-1');
});
