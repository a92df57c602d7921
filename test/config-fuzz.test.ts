// Property tests (fast-check, seeded, bounded) of config loading: for every service's schema, a random
// SWITCHYARD_* environment either loads (a frozen object) or throws a ConfigError whose problems each
// name an environment variable; never a raw exception from a coercion, a refinement or a transform.
// Seed: SWITCHYARD_FUZZ_SEED (fast-check prints it with any counterexample).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiConfigSchema, loadApiConfig } from '@switchyard/api';
import { CONFIG_INVALID, ConfigError, describeFields, loadConfig } from '@switchyard/config';
import { GeoDnsConfigSchema } from '@switchyard/geodns';
import { ProxyConfigSchema } from '@switchyard/grpc-proxy';
import { InvocationConfigSchema } from '@switchyard/invocation';
import { WorkerConfigSchema } from '@switchyard/worker';
import fc from 'fast-check';
import type { z } from 'zod';

const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261205);
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 400);

/** Values that are valid for some field kind, near a bound, or nonsense. */
const valueArb = fc.oneof(
  fc.constantFrom('', ' ', '0', '1', '-1', '1e309', 'NaN', 'Infinity', '0x10', '9007199254740993', '3.5'),
  fc.constantFrom('true', 'false', 'yes', 'off', 'maybe', 'TRUE'),
  fc.constantFrom('{}', '[]', 'null', '{"a":', '[{"name":"x"}]', '{"__proto__":{"x":1}}', '"s"'),
  fc.constantFrom('nats://127.0.0.1:4222', 'a,b,,c', ',', 'us-east', 'http://[::1', '/no/such/file', 'debug'),
  fc.integer({ min: -100_000, max: 10_000_000 }).map(String),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** A random env over a schema's own variables (most of them) and a few unknown ones. */
function envArb(schema: z.ZodObject): fc.Arbitrary<Record<string, string>> {
  const names = describeFields(schema).map((f) => f.envVar);
  return fc
    .tuple(
      fc.dictionary(fc.constantFrom(...names), valueArb, { maxKeys: names.length }),
      fc.dictionary(
        fc.string({ maxLength: 12 }).map((s) => `SWITCHYARD_${s}`),
        valueArb,
        { maxKeys: 3 },
      ),
    )
    .map(([known, unknown]) => ({ ...unknown, ...known }));
}

/** Asserts `load` returns or throws a ConfigError listing problems that name a variable. */
function loadsOrConfigError(load: () => unknown): void {
  try {
    const config = load();
    assert.ok(Object.isFrozen(config));
  } catch (err) {
    assert.ok(err instanceof ConfigError, `raw throw: ${err instanceof Error ? err.stack : String(err)}`);
    assert.equal(err.code, CONFIG_INVALID);
    assert.ok(err.problems.length > 0);
    for (const p of err.problems) assert.match(p, /^(SWITCHYARD_[A-Z0-9_]+ )?\(/, `problem names no variable: ${p}`);
  }
}

const SCHEMAS: [string, z.ZodObject][] = [
  ['grpc-proxy', ProxyConfigSchema],
  ['invocation', InvocationConfigSchema],
  ['worker', WorkerConfigSchema],
  ['geodns', GeoDnsConfigSchema],
];

describe('config loading under random environments (fast-check)', () => {
  for (const [service, schema] of SCHEMAS)
    it(`should load ${service} or throw a ConfigError listing problems (seed ${SEED})`, () => {
      fc.assert(
        fc.property(envArb(schema), (env) => loadsOrConfigError(() => loadConfig(schema, { service, env }))),
        { seed: SEED, numRuns: RUNS },
      );
    });

  it(`should load api (loadApiConfig) or throw a ConfigError listing problems (seed ${SEED})`, () => {
    fc.assert(
      fc.property(envArb(ApiConfigSchema), (env) => loadsOrConfigError(() => loadApiConfig({ env }))),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('should report every bad variable of one environment at once', () => {
    const env = {
      SWITCHYARD_ATTACH_TIMEOUT_MS: 'soon',
      SWITCHYARD_PORT: '-1',
      SWITCHYARD_NATS_SERVERS: ',',
    };
    assert.throws(
      () => loadConfig(ProxyConfigSchema, { service: 'grpc-proxy', env }),
      (err) => err instanceof ConfigError && err.problems.length >= 2,
    );
  });
});
