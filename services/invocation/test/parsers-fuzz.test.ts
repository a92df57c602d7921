// Property tests (fast-check, seeded, bounded) of the invocation service's request parsers: Host
// routing (H1), the pexec routes (H2) and NVCF-POLL-SECONDS (H8) never throw anything but a catalogue
// error, whatever the client sends. Seed: SWITCHYARD_FUZZ_SEED (printed on failure by fast-check).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSwitchyardError } from '@switchyard/protocol';
import fc from 'fast-check';
import { PEXEC_PREFIX, parseInvocationHost, resolveTarget } from '../src/invocation-route.ts';
import { pollSeconds } from '../src/poll-seconds.ts';

const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261205);
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 2000);
const params = { seed: SEED, numRuns: RUNS };

/** Text that favours the characters parsers split on, escape, or compare. */
const tricky = fc.string({
  unit: fc.oneof(
    fc.constantFrom('%', '/', '.', '?', '#', ':', ';', ',', '=', ' ', '-', '\u0000', '\uffff', '\ud800', 'é'),
    fc.constantFrom('%zz', '%e0%a4%a', '%c0%af', '%', '%%', '%2F', '%00', '%ff'),
    fc.constantFrom(...'0123456789abcdefABCDEF'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 80,
});
const uuid = fc.uuid();
const hostArb = fc.oneof(
  tricky,
  fc.tuple(uuid, tricky).map(([u, rest]) => `${u}.invocation.${rest}`),
  fc.tuple(uuid, uuid, tricky).map(([v, f, rest]) => `${v}.${f}.invocation.${rest}`),
  fc.constant('.invocation.'),
  fc.constant('invocation.'),
);
const pathArb = fc.oneof(
  tricky.map((s) => `/${s}`),
  tricky.map((s) => `${PEXEC_PREFIX}functions/${s}`),
  fc.tuple(tricky, tricky).map(([f, v]) => `${PEXEC_PREFIX}functions/${f}/versions/${v}`),
  tricky.map((s) => `${PEXEC_PREFIX}status/${s}`),
  tricky.map((s) => `/_switchyard/${s}`),
);
const headerValue = fc.option(fc.oneof(tricky, uuid, fc.array(tricky, { maxLength: 3 })), { nil: undefined });

/** Runs `fn`; a throw is allowed only when it is a catalogue error. */
function onlyCatalogueErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    assert.ok(isSwitchyardError(err), `threw a non-catalogue error: ${String(err)}`);
  }
}

describe('invocation parsers under random input (fast-check)', () => {
  it(`H1: parseInvocationHost never throws and only returns UUIDs (seed ${SEED})`, () => {
    fc.assert(
      fc.property(fc.option(hostArb, { nil: undefined }), fc.array(tricky, { maxLength: 2 }), (host, domains) => {
        const r = parseInvocationHost(host, domains);
        if (r) assert.match(r.functionId, /^[0-9a-f-]{36}$/);
      }),
      params,
    );
  });

  it(`H1, H2: resolveTarget never throws anything but a catalogue error (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'X'),
        pathArb,
        fc.option(hostArb, { nil: undefined }),
        headerValue,
        headerValue,
        (method, path, host, functionId, versionId) =>
          onlyCatalogueErrors(() =>
            resolveTarget(method, path, host, { 'function-id': functionId, 'function-version-id': versionId }),
          ),
      ),
      params,
    );
  });

  it('H2: a pexec path with a malformed %-escape is a 400 catalogue error (SY_REQUEST_INVALID), not a URIError', () => {
    for (const path of [
      `${PEXEC_PREFIX}functions/%zz`,
      `${PEXEC_PREFIX}functions/${'a'.repeat(8)}/versions/%e0%a4%a`,
      `${PEXEC_PREFIX}status/%`,
    ]) {
      assert.throws(
        () => resolveTarget(path.includes('status') ? 'GET' : 'POST', path, undefined, {}),
        (err) => isSwitchyardError(err, 'SY_REQUEST_INVALID'),
      );
    }
  });

  it(`H8: pollSeconds returns an integer in range or throws SY_POLL_SECONDS_INVALID (seed ${SEED})`, () => {
    const settings = { defaultPollSeconds: 60, ssePollSeconds: 1200, maxPollSeconds: 3600 };
    fc.assert(
      fc.property(
        fc.option(
          fc.oneof(
            tricky,
            fc.integer({ min: -10, max: 10_000 }).map(String),
            fc.double().map(String),
            fc.array(fc.nat(5000).map(String), { maxLength: 3 }),
          ),
          { nil: undefined },
        ),
        fc.option(fc.oneof(tricky, fc.constant('text/event-stream'), fc.array(tricky, { maxLength: 2 })), {
          nil: undefined,
        }),
        (header, accept) => {
          try {
            const n = pollSeconds(header, accept, settings);
            assert.ok(Number.isInteger(n) && n >= 1 && n <= settings.maxPollSeconds, `got ${n}`);
          } catch (err) {
            assert.ok(isSwitchyardError(err, 'SY_POLL_SECONDS_INVALID'), `threw ${String(err)}`);
          }
        },
      ),
      params,
    );
  });
});
