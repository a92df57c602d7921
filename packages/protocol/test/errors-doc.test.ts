import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ErrorCatalogue, grpcStatusName, httpStatusForGrpc, SwitchyardError } from '@switchyard/protocol';

const DOC = new URL('../../../docs/errors.md', import.meta.url);

/** Rows of the table in docs/errors.md: | `CODE` | STATUS_NAME | http | message | */
function documentedRows(): Map<string, { grpc: string; http: number; message: string }> {
  const rows = new Map<string, { grpc: string; http: number; message: string }>();
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\|\s*`(SY_[A-Z_]+)`\s*\|\s*([A-Z_]+)\s*\((\d+)\)\s*\|\s*(\d{3})\s*\|\s*(.*?)\s*\|$/.exec(line);
    if (m) rows.set(m[1], { grpc: m[2], http: Number(m[4]), message: m[5] });
  }
  return rows;
}

describe('error catalogue', () => {
  test('docs/errors.md should list exactly the codes of the catalogue, with their statuses and messages', () => {
    const rows = documentedRows();
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ErrorCatalogue).sort());
    for (const [code, row] of rows) {
      const err = new SwitchyardError(code as keyof typeof ErrorCatalogue);
      assert.equal(row.grpc, grpcStatusName(err.grpcStatus), `${code} gRPC status`);
      assert.equal(row.http, err.httpStatus, `${code} HTTP status`);
      assert.equal(row.message, err.message, `${code} message`);
    }
  });

  test('G2: the messages the contract fixes word for word should be exact', () => {
    assert.equal(new SwitchyardError('SY_AUTH_MISSING').message, 'no authorization was passed in the metadata');
    assert.equal(new SwitchyardError('SY_FUNCTION_ID_MISSING').message, 'no function-id was passed in the metadata');
    assert.equal(new SwitchyardError('SY_RATE_LIMITED').message, 'exceeded rate limit');
    assert.equal(new SwitchyardError('SY_SESSION_NOT_FOUND').message, 'no existing session found');
    assert.equal(new SwitchyardError('SY_ATTACH_TIMEOUT').message, 'failed to establish link to worker');
  });

  test('G3: should map gRPC codes to HTTP statuses as the contract lists', () => {
    const expected: Record<number, number> = {
      3: 400,
      16: 401,
      7: 403,
      5: 404,
      6: 409,
      8: 429,
      4: 504,
      12: 501,
      14: 503,
      13: 500,
      2: 500,
    };
    for (const [grpc, http] of Object.entries(expected))
      assert.equal(httpStatusForGrpc(Number(grpc)), http, `code ${grpc}`);
  });
});
