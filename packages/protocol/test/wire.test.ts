import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeMessage,
  encodeGrpcMessage,
  encodeMessage,
  isUuid,
  NatsNames,
  newRequestId,
  TicketSchema,
} from '@switchyard/protocol';

describe('wire helpers', () => {
  test('should percent-encode grpc-message bytes outside printable ASCII and the percent sign', () => {
    assert.equal(encodeGrpcMessage('no existing session found'), 'no existing session found');
    assert.equal(encodeGrpcMessage('100% sûr\n'), '100%25 s%C3%BBr%0A');
  });

  test('G1: new request IDs should be UUIDv4 and pass the UUID check', () => {
    const id = newRequestId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.ok(isUuid(id));
    assert.ok(!isUuid('not-a-uuid'));
  });

  test('should build ticket subjects and refuse tokens that would change a subject', () => {
    assert.equal(NatsNames.ticketSubject('us-east', 'v1', 'r1'), 'rq.us-east.v1.r1');
    assert.equal(NatsNames.sessionBucket('eu-west'), 'sessions_eu-west');
    assert.throws(() => NatsNames.ticketSubject('a.b', 'v', 'r'), TypeError);
    assert.throws(() => NatsNames.workerReconnect('v1', 'w>'), TypeError);
    assert.equal(NatsNames.workerEvict('v1', 'w1'), 'worker.v1.w1.evict');
    assert.equal(NatsNames.workerVersionWildcard('v1'), 'worker.v1.>');
  });

  test('should reject a malformed ticket with a clear validation error', () => {
    assert.throws(() => decodeMessage(TicketSchema, encodeMessage({ reqId: 'x' })), /reqId|Invalid/);
  });
});
