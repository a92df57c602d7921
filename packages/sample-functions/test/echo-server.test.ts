import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  type EchoClient,
  type EchoResponse,
  loadEchoClient,
  REQUESTED_FAILURE_MESSAGE,
  type SampleServerHandle,
  startEchoServer,
} from '../src/index.ts';
import { callWithMany, callWithOne } from './grpc-calls.ts';

describe('echo server', () => {
  let server: SampleServerHandle;
  let client: EchoClient;

  before(async () => {
    server = await startEchoServer({ instanceId: 'echo-test-1' });
    client = loadEchoClient(server.address);
  });

  after(async () => {
    client.close();
    await server.stop();
  });

  it('should listen on a free port at 127.0.0.1 and report its instance id', () => {
    assert.ok(server.port > 0);
    assert.equal(server.address, `127.0.0.1:${server.port}`);
    assert.equal(server.instanceId, 'echo-test-1');
  });

  it('should echo a unary payload with the instance id and no request id', async () => {
    const r = await callWithOne<EchoResponse>(client, 'Unary', { payload: Buffer.from('hello') });
    assert.equal(r.status.code, grpc.status.OK);
    const [m] = r.messages;
    assert.equal(m.payload.toString(), 'hello');
    assert.equal(m.instance_id, 'echo-test-1');
    assert.equal(m.request_id, '');
    assert.equal(m.session_calls, 0);
    assert.equal(m.received_bytes, 5);
  });

  it('should answer a client stream with every payload concatenated and the byte count', async () => {
    const parts = ['ab', 'cde', '', 'f'].map((s) => ({ payload: Buffer.from(s) }));
    const r = await callWithOne<EchoResponse>(client, 'ClientStream', parts);
    assert.equal(r.status.code, grpc.status.OK);
    assert.equal(r.messages[0].payload.toString(), 'abcdef');
    assert.equal(r.messages[0].received_bytes, 6);
  });

  it('should count a client stream without keeping it when a response size is asked for', async () => {
    const parts = [{ payload: Buffer.alloc(1000), response_size: 3 }, { payload: Buffer.alloc(24) }];
    const r = await callWithOne<EchoResponse>(client, 'ClientStream', parts);
    assert.equal(r.messages[0].payload.toString(), 'aaa');
    assert.equal(r.messages[0].received_bytes, 1024);
  });

  it('should send repeat responses on a server stream', async () => {
    const r = await callWithMany<EchoResponse>(client, 'ServerStream', { payload: Buffer.from('x'), repeat: 5 });
    assert.equal(r.status.code, grpc.status.OK);
    assert.equal(r.messages.length, 5);
    for (const m of r.messages) assert.equal(m.payload.toString(), 'x');
  });

  it('should send one response on a server stream when repeat is zero', async () => {
    const r = await callWithMany<EchoResponse>(client, 'ServerStream', { payload: Buffer.from('x') });
    assert.equal(r.messages.length, 1);
  });

  it('should answer each bidi request in order with a running byte count', async () => {
    const requests = [
      { payload: Buffer.from('one') },
      { payload: Buffer.from('two'), repeat: 2 },
      { payload: Buffer.from('3') },
    ];
    const r = await callWithMany<EchoResponse>(client, 'Bidi', requests);
    assert.equal(r.status.code, grpc.status.OK);
    assert.deepEqual(
      r.messages.map((m) => [m.payload.toString(), m.received_bytes]),
      [
        ['one', 3],
        ['two', 6],
        ['two', 6],
        ['3', 7],
      ],
    );
  });

  it('should round-trip a 64 MiB unary payload', async () => {
    const payload = Buffer.alloc(64 * 1024 * 1024);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = i & 0xff;
    const r = await callWithOne<EchoResponse>(client, 'Unary', { payload });
    assert.equal(r.status.code, grpc.status.OK, r.status.details);
    assert.equal(r.messages[0].payload.length, payload.length);
    assert.ok(r.messages[0].payload.equals(payload));
  });

  it('should answer with response_size bytes instead of the echo', async () => {
    const r = await callWithOne<EchoResponse>(client, 'Unary', { payload: Buffer.from('x'), response_size: 10 });
    assert.equal(r.messages[0].payload.toString(), 'a'.repeat(10));
  });

  it('should return x-echo-* metadata as headers and x-trailer-* metadata as trailers', async () => {
    const metadata = { 'x-echo-color': 'blue', 'x-trailer-shape': 'round', 'x-other': 'dropped' };
    for (const [method, many] of [
      ['Unary', false],
      ['ServerStream', true],
    ] as const) {
      const call = many ? callWithMany : callWithOne;
      const r = await call<EchoResponse>(client, method, { payload: Buffer.from('m') }, { metadata });
      assert.deepEqual(r.headers.get('x-echo-color'), ['blue'], method);
      assert.deepEqual(r.headers.get('x-trailer-shape'), [], method);
      assert.deepEqual(r.headers.get('x-other'), [], method);
      assert.deepEqual(r.status.metadata.get('x-trailer-shape'), ['round'], method);
      assert.deepEqual(r.status.metadata.get('x-echo-color'), [], method);
    }
  });

  it('should end the call with the requested fail_code and message', async () => {
    const r = await callWithOne<EchoResponse>(
      client,
      'Unary',
      { fail_code: grpc.status.RESOURCE_EXHAUSTED },
      { metadata: { 'x-trailer-why': 'asked', 'x-echo-a': 'b' } },
    );
    assert.equal(r.status.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(r.status.details, REQUESTED_FAILURE_MESSAGE);
    assert.deepEqual(r.status.metadata.get('x-trailer-why'), ['asked']);
    assert.deepEqual(r.headers.get('x-echo-a'), ['b']);
  });

  it('should send the server stream responses before the requested failure', async () => {
    const r = await callWithMany<EchoResponse>(client, 'ServerStream', { repeat: 2, fail_code: grpc.status.ABORTED });
    assert.equal(r.messages.length, 2);
    assert.equal(r.status.code, grpc.status.ABORTED);
    assert.equal(r.status.details, REQUESTED_FAILURE_MESSAGE);
  });

  it('should end a bidi call with the requested failure after answering it', async () => {
    const r = await callWithMany<EchoResponse>(client, 'Bidi', [{ payload: Buffer.from('ok') }, { fail_code: 13 }]);
    assert.equal(r.status.code, grpc.status.INTERNAL);
    assert.equal(r.messages.length, 2);
  });

  it('should get DEADLINE_EXCEEDED when delay_ms is longer than the deadline', async () => {
    const started = Date.now();
    const r = await callWithOne<EchoResponse>(client, 'Unary', { delay_ms: 5000 }, { deadlineMs: 200 });
    assert.equal(r.status.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 2000);
    const s = await callWithMany<EchoResponse>(
      client,
      'ServerStream',
      { delay_ms: 100, repeat: 50 },
      { deadlineMs: 350 },
    );
    assert.equal(s.status.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(s.messages.length >= 1 && s.messages.length < 50);
  });

  it('should count session calls per nvcf-reqid', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const calls = [a, a, b, a];
    const seen: [string, number][] = [];
    for (const id of calls) {
      const r = await callWithOne<EchoResponse>(client, 'Unary', {}, { metadata: { 'nvcf-reqid': id } });
      seen.push([r.messages[0].request_id, r.messages[0].session_calls]);
    }
    const s = await callWithMany<EchoResponse>(client, 'Bidi', [{}, {}], { metadata: { 'nvcf-reqid': b } });
    seen.push([s.messages[1].request_id, s.messages[1].session_calls]);
    assert.deepEqual(seen, [
      [a, 1],
      [a, 2],
      [b, 1],
      [a, 3],
      [b, 2],
    ]);
  });

  it('should keep session counts per instance', async () => {
    const other = await startEchoServer();
    const otherClient = loadEchoClient(other.address);
    try {
      const id = randomUUID();
      await callWithOne<EchoResponse>(client, 'Unary', {}, { metadata: { 'nvcf-reqid': id } });
      const r = await callWithOne<EchoResponse>(otherClient, 'Unary', {}, { metadata: { 'nvcf-reqid': id } });
      assert.equal(r.messages[0].session_calls, 1);
      assert.notEqual(r.messages[0].instance_id, 'echo-test-1');
    } finally {
      otherClient.close();
      await other.stop();
    }
  });
});

describe('echo server lifecycle', () => {
  it('should let a call in flight finish when stopped within the grace period', async () => {
    const server = await startEchoServer();
    const client = loadEchoClient(server.address);
    const pending = callWithOne<EchoResponse>(client, 'Unary', { payload: Buffer.from('late'), delay_ms: 150 });
    await callWithOne<EchoResponse>(client, 'Unary', {});
    await server.stop();
    const r = await pending;
    assert.equal(r.status.code, grpc.status.OK);
    assert.equal(r.messages[0].payload.toString(), 'late');
    client.close();
  });

  it('should force open streams closed when stop() outlasts the grace period', async () => {
    const server = await startEchoServer({ shutdownGraceMs: 200 });
    const client = loadEchoClient(server.address);
    const call = client.Bidi();
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    call.write({ payload: Buffer.from('hi') });
    await new Promise((resolve) => call.once('data', resolve));
    const started = Date.now();
    await server.stop();
    assert.ok(Date.now() - started < 2000);
    assert.notEqual((await status).code, grpc.status.OK);
    client.close();
  });

  it('should fail calls in flight with UNAVAILABLE when killed', async () => {
    const server = await startEchoServer();
    const client = loadEchoClient(server.address);
    const pending = callWithOne<EchoResponse>(client, 'Unary', { delay_ms: 5000 });
    await callWithOne<EchoResponse>(client, 'Unary', {});
    server.kill();
    const r = await pending;
    assert.equal(r.status.code, grpc.status.UNAVAILABLE);
    client.close();
  });
});

describe('echo server start', () => {
  it('should reject when the port is already taken', async () => {
    const first = await startEchoServer();
    try {
      await assert.rejects(startEchoServer({ port: first.port }), { code: 'EADDRINUSE' });
    } finally {
      await first.stop();
    }
  });

  it('should listen on IPv6 loopback and give a bracketed address', async (t) => {
    let server: SampleServerHandle;
    try {
      server = await startEchoServer({ host: '::1' });
    } catch {
      t.skip('no IPv6 loopback here');
      return;
    }
    const client = loadEchoClient(server.address);
    try {
      assert.equal(server.address, `[::1]:${server.port}`);
      const r = await callWithOne<EchoResponse>(client, 'Unary', { payload: Buffer.from('v6') });
      assert.equal(r.messages[0].payload.toString(), 'v6');
    } finally {
      client.close();
      await server.stop();
    }
  });
});
