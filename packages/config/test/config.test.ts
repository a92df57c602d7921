// Unit tests of config loading: defaults, env coercion, overrides, every problem at once, frozen result.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { ConfigError, envVarName, formatConfigTable, loadConfig } from '../src/index.ts';

const schema = z.object({
  region: z.string().min(1).describe('Region this instance serves'),
  port: z.number().int().min(0).max(65535).default(10081).describe('gRPC listen port'),
  attachTimeoutMs: z.number().int().positive().default(5000).describe('How long to wait for a worker | ms'),
  tlsEnabled: z.boolean().default(false),
  natsUrls: z.array(z.string().url()).default(['nats://127.0.0.1:4222']).describe('NATS servers'),
  mode: z.enum(['grpc', 'http']).default('grpc'),
  apiKey: z.string().optional(),
  limits: z.object({ maxSessions: z.number() }).default({ maxSessions: 10 }),
});

describe('envVarName', () => {
  test('should map camelCase fields to SWITCHYARD_ SCREAMING_SNAKE names', () => {
    assert.equal(envVarName('attachTimeoutMs'), 'SWITCHYARD_ATTACH_TIMEOUT_MS');
    assert.equal(envVarName('parseHTTPHeader'), 'SWITCHYARD_PARSE_HTTP_HEADER');
    assert.equal(envVarName('natsUrls'), 'SWITCHYARD_NATS_URLS');
    assert.equal(envVarName('http2Port'), 'SWITCHYARD_HTTP2_PORT');
    assert.equal(envVarName('region'), 'SWITCHYARD_REGION');
  });
});

describe('loadConfig', () => {
  test('should apply defaults for unset fields', () => {
    const config = loadConfig(schema, { service: 'grpc-proxy', env: { SWITCHYARD_REGION: 'eu' } });
    assert.deepEqual(config, {
      region: 'eu',
      port: 10081,
      attachTimeoutMs: 5000,
      tlsEnabled: false,
      natsUrls: ['nats://127.0.0.1:4222'],
      mode: 'grpc',
      limits: { maxSessions: 10 },
    });
  });

  test('should coerce env strings to numbers, booleans, comma lists and JSON', () => {
    const config = loadConfig(schema, {
      service: 'grpc-proxy',
      env: {
        SWITCHYARD_REGION: 'us',
        SWITCHYARD_PORT: ' 9000 ',
        SWITCHYARD_ATTACH_TIMEOUT_MS: '250',
        SWITCHYARD_TLS_ENABLED: 'yes',
        SWITCHYARD_NATS_URLS: 'nats://a:4222, nats://b:4222,',
        SWITCHYARD_MODE: 'http',
        SWITCHYARD_API_KEY: 'k',
        SWITCHYARD_LIMITS: '{"maxSessions": 3}',
        SWITCHYARD_UNRELATED: 'ignored',
      },
    });
    assert.equal(config.port, 9000);
    assert.equal(config.attachTimeoutMs, 250);
    assert.equal(config.tlsEnabled, true);
    assert.deepEqual(config.natsUrls, ['nats://a:4222', 'nats://b:4222']);
    assert.equal(config.mode, 'http');
    assert.equal(config.apiKey, 'k');
    assert.deepEqual(config.limits, { maxSessions: 3 });
  });

  test('should treat an empty env value as unset', () => {
    const config = loadConfig(schema, { service: 's', env: { SWITCHYARD_REGION: 'eu', SWITCHYARD_PORT: '' } });
    assert.equal(config.port, 10081);
  });

  test('should let overrides win over env and coerce string overrides', () => {
    const config = loadConfig(schema, {
      service: 'grpc-proxy',
      env: { SWITCHYARD_REGION: 'eu', SWITCHYARD_PORT: '9000', SWITCHYARD_TLS_ENABLED: 'true' },
      overrides: { region: 'us', port: '7000', tlsEnabled: undefined, help: true },
    });
    assert.equal(config.region, 'us');
    assert.equal(config.port, 7000);
    assert.equal(config.tlsEnabled, true);
  });

  test('should list every bad field in one ConfigError', () => {
    let caught: unknown;
    try {
      loadConfig(schema, {
        service: 'grpc-proxy',
        env: {
          SWITCHYARD_PORT: '99999',
          SWITCHYARD_ATTACH_TIMEOUT_MS: 'soon',
          SWITCHYARD_TLS_ENABLED: 'maybe',
          SWITCHYARD_NATS_URLS: 'nats://ok:4222,not a url',
          SWITCHYARD_MODE: 'ftp',
          SWITCHYARD_API_KEY: '',
        },
        overrides: { apiKey: 42 },
      });
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ConfigError);
    assert.equal(caught.code, 'CONFIG_INVALID');
    assert.equal(caught.problems.length, 7, caught.message);
    const lines = caught.message.split('\n');
    assert.equal(lines[0], 'invalid grpc-proxy configuration:');
    assert.match(lines[1], /^ {2}- SWITCHYARD_REGION \(region\): required but not set$/);
    assert.match(lines[2], /^ {2}- SWITCHYARD_PORT \(port\): .*65535.*\(got 99999\)$/);
    assert.match(lines[3], /^ {2}- SWITCHYARD_ATTACH_TIMEOUT_MS \(attachTimeoutMs\): expected a number, got "soon"$/);
    assert.match(lines[4], /^ {2}- SWITCHYARD_TLS_ENABLED \(tlsEnabled\): expected a boolean/);
    assert.match(lines[5], /^ {2}- SWITCHYARD_NATS_URLS \(natsUrls\[1\]\): /);
    assert.match(lines[6], /^ {2}- SWITCHYARD_MODE \(mode\): .*\(got "ftp"\)$/);
    assert.match(lines[7], /^ {2}- SWITCHYARD_API_KEY \(apiKey\): /);
    assert.doesNotMatch(lines[7], /42/, 'values of secret-looking fields are not echoed');
  });

  test('should return a deep-frozen object', () => {
    const config = loadConfig(schema, { service: 's', env: { SWITCHYARD_REGION: 'eu' } });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.natsUrls));
    assert.ok(Object.isFrozen(config.limits));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
  });

  test('should read process.env by default', () => {
    process.env.SWITCHYARD_REGION = 'from-process';
    try {
      assert.equal(loadConfig(schema, { service: 's' }).region, 'from-process');
    } finally {
      delete process.env.SWITCHYARD_REGION;
    }
  });
});

describe('formatConfigTable', () => {
  test('should render env var, type, default and description per field', () => {
    const table = formatConfigTable(schema);
    const lines = table.trimEnd().split('\n');
    assert.equal(lines[0], '| env var | type | default | description |');
    assert.equal(lines.length, 2 + Object.keys(schema.shape).length);
    assert.equal(lines[2], '| `SWITCHYARD_REGION` | string | **required** | Region this instance serves |');
    assert.equal(lines[3], '| `SWITCHYARD_PORT` | integer (>= 0, <= 65535) | `10081` | gRPC listen port |');
    assert.match(lines[4], /How long to wait for a worker \\\| ms/);
    assert.match(
      table,
      /\| `SWITCHYARD_NATS_URLS` \| list of string \(url\) \(comma-separated\) \| `nats:\/\/127.0.0.1:4222` \|/,
    );
    assert.match(table, /\| `SWITCHYARD_MODE` \| one of: grpc, http \| `grpc` \|/);
    assert.match(table, /\| `SWITCHYARD_API_KEY` \| string \| \(unset\) \|/);
  });
});
