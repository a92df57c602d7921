// Property tests (fast-check, seeded, bounded) of the proxy's metadata parsers: request-ID extraction
// from metadata, subprotocols and cookies (G7), WebSocket subprotocol credentials (G12) and
// `grpc-timeout` (G4). None may throw, whatever a client sends; each returns only well-formed values.
// Seed: SWITCHYARD_FUZZ_SEED (fast-check prints it with any counterexample).
import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import { describe, it } from 'node:test';
import { isUuid } from '@switchyard/protocol';
import fc from 'fast-check';
import { grpcTimeoutMs } from '../src/client-calls.ts';
import { containerSubprotocols, webSocketCredentials } from '../src/client-websocket-credentials.ts';
import { requestedSessionId } from '../src/request-id.ts';

const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261205);
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 2000);
const params = { seed: SEED, numRuns: RUNS };

/** Text that favours the separators these parsers split on. */
const tricky = fc.string({
  unit: fc.oneof(
    fc.constantFrom(',', ';', '=', '.', ' ', '\t', '%', 'Bearer ', '\u0000', '\ud800', 'é'),
    fc.constantFrom('nvcf-reqid.', 'nvcf-request-id=', 'authorization.', 'function-id.', 'function-version-id.'),
    fc.constantFrom(...'0123456789abcdefABCDEF-'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 120,
});
const uuidish = fc.oneof(
  fc.uuid(),
  fc.uuid().map((u) => u.toUpperCase()),
  fc.uuid().map((u) => ` ${u} `),
  fc.uuid().map((u) => u.slice(0, 35)),
);
const valueArb = fc.option(
  fc.oneof(tricky, uuidish, fc.array(fc.oneof(tricky, uuidish), { maxLength: 3 }), fc.constant('')),
  { nil: undefined },
);
const headersArb = fc
  .record({
    'nvcf-reqid': valueArb,
    'sec-websocket-protocol': fc.option(
      fc.oneof(
        valueArb,
        fc
          .array(
            fc.oneof(
              tricky,
              uuidish.map((u) => `nvcf-reqid.${u}`),
              tricky.map((k) => `authorization.${k}`),
              uuidish.map((u) => `function-id.${u}`),
              uuidish.map((u) => `function-version-id.${u}`),
            ),
            { maxLength: 6 },
          )
          .map((items) => items.join(',')),
      ),
      { nil: undefined },
    ),
    cookie: fc.option(
      fc.oneof(
        valueArb,
        fc
          .array(
            fc.oneof(
              tricky,
              uuidish.map((u) => `nvcf-request-id=${u}`),
            ),
            { maxLength: 4 },
          )
          .map((c) => c.join('; ')),
      ),
      { nil: undefined },
    ),
    authorization: valueArb,
    'function-id': valueArb,
    'function-version-id': valueArb,
    'grpc-timeout': valueArb,
  })
  .map((h) => h as unknown as http2.IncomingHttpHeaders);

describe('proxy metadata parsers under random input (fast-check)', () => {
  it(`G7: requestedSessionId never throws and returns only a lower-case UUID (seed ${SEED})`, () => {
    fc.assert(
      fc.property(headersArb, (headers) => {
        const id = requestedSessionId(headers);
        if (id !== undefined) {
          assert.ok(isUuid(id), `not a UUID: ${JSON.stringify(id)}`);
          assert.equal(id, id.toLowerCase());
        }
      }),
      params,
    );
  });

  it(`G12: webSocketCredentials and containerSubprotocols never throw nor pass the API key on (seed ${SEED})`, () => {
    fc.assert(
      fc.property(headersArb, (headers) => {
        const creds = webSocketCredentials(headers);
        for (const v of [creds.authorization, creds.functionId, creds.versionId])
          assert.ok(v === undefined || typeof v === 'string');
        const offered = containerSubprotocols(headers['sec-websocket-protocol']);
        if (offered !== undefined)
          for (const entry of offered.split(','))
            assert.ok(!entry.trim().startsWith('authorization.'), `API key offered to the container: ${offered}`);
      }),
      params,
    );
  });

  it(`G4: grpcTimeoutMs is undefined or a finite duration >= 0 (seed ${SEED})`, () => {
    const timeoutArb = fc.oneof(
      valueArb,
      fc
        .tuple(fc.integer({ min: 0, max: 1e10 }), fc.constantFrom('H', 'M', 'S', 'm', 'u', 'n', 'x', ''))
        .map(([n, u]) => `${n}${u}`),
    );
    fc.assert(
      fc.property(timeoutArb, (value) => {
        const ms = grpcTimeoutMs({ 'grpc-timeout': value } as unknown as http2.IncomingHttpHeaders);
        if (ms !== undefined) assert.ok(Number.isFinite(ms) && ms >= 0, `got ${ms}`);
      }),
      params,
    );
  });
});
