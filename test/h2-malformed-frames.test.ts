// Malformed HTTP/2 frames (issue 11, item 1; what h2spec checks, which Debian does not ship) against
// the client listeners of the gRPC proxy and the invocation service, and against both callback
// listeners (HTTP/1.1 CONNECT only), in a region of real processes. Each case is answered with a
// GOAWAY or RST_STREAM carrying the error code RFC 9113 names, or a closed connection, within 5 s;
// afterwards every process is still up and serves valid calls. Four frames that nghttp2 ignores
// (PRIORITY on stream 0 or on itself, DATA after the client's RST_STREAM, a lower new stream ID) are
// printed as "ign": the connection must then keep serving (a PING after them is acknowledged).
// Known gap, not tested here: nghttp2 also drops a regular field whose value holds NUL, CR, LF or
// another control byte, without telling node, so a function-version-id like "x\0y" is never seen
// and the call goes to any deployed version (G2 would want INVALID_ARGUMENT).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type FuzzListener, type FuzzRegion, startFuzzRegion } from './fuzz/fuzz-region.ts';
import { MALFORMED_CASES, runMalformed } from './fuzz/h2-malformed.ts';

let region: FuzzRegion;
before(async () => {
  region = await startFuzzRegion();
});
after(() => region?.stop());

const LISTENERS: { listener: FuzzListener; http1: boolean }[] = [
  { listener: 'grpc', http1: false },
  { listener: 'http', http1: false },
  { listener: 'grpcCallback', http1: true },
  { listener: 'httpCallback', http1: true },
];

for (const { listener, http1 } of LISTENERS) {
  test(`should answer every malformed HTTP/2 connection on the ${listener} listener as RFC 9113 says`, {
    timeout: 120_000,
  }, async () => {
    const wrong: string[] = [];
    const seen: string[] = [];
    for (const c of MALFORMED_CASES) {
      const r = await runMalformed(region.ports[listener], c, http1);
      seen.push(`${r.ok ? (r.ignored ? 'ign' : 'ok ') : 'BAD'} ${c.name} (RFC 9113 ${c.rfc}): ${r.answer}`);
      if (!r.ok) wrong.push(`${c.name} (RFC 9113 ${c.rfc}): ${r.answer}`);
    }
    console.log(`${listener}:\n  ${seen.join('\n  ')}`);
    assert.deepEqual(await region.check(), [], 'every process up and serving valid calls afterwards');
    assert.deepEqual(wrong, [], `${listener}: wrong answers`);
  });
}
