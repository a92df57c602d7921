// Writes docs/errors.md from the error catalogue (run: node scripts/errors-doc.ts). A test checks
// that the document and the catalogue agree.
import { writeFileSync } from 'node:fs';
import { ErrorCatalogue, grpcStatusName, SwitchyardError } from '@switchyard/protocol';

const rows = Object.keys(ErrorCatalogue).map((code) => {
  const err = new SwitchyardError(code as keyof typeof ErrorCatalogue);
  return `| \`${code}\` | ${grpcStatusName(err.grpcStatus)} (${err.grpcStatus}) | ${err.httpStatus} | ${err.message} |`;
});
const doc = `# Errors

Every error Switchyard itself makes has a stable code (compare codes, never messages), a gRPC status
and an HTTP status. gRPC clients receive the status as \`grpc-status\` / \`grpc-message\` in a
trailers-only answer with HTTP 200 (G3); non-gRPC clients receive the HTTP status with the message as
text/plain (gRPC proxy) or as \`application/problem+json\` (API, HTTP invocation). The source of truth
is \`packages/protocol/src/errors.ts\`; this table is generated from it by \`node scripts/errors-doc.ts\`
and a test fails when the two disagree.

| code | gRPC status | HTTP | message |
| --- | --- | --- | --- |
${rows.join('\n')}
`;
writeFileSync(new URL('../docs/errors.md', import.meta.url), doc);
console.log(`wrote docs/errors.md (${rows.length} codes)`);
