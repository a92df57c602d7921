// Both ends of the link against a real nats-server (JetStream) and real tunnels on loopback: a front
// end (FrontEndLink + TunnelListener) and a worker end (serveWorkerLink + WorkerTunnels) that takes
// tickets from the real ticket stream.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AttachRequestSchema,
  ControlReplySchema,
  decodeMessage,
  encodeMessage,
  isSwitchyardError,
  NatsNames,
  type SessionEnded,
  SwitchyardError,
  TunnelHeaders,
} from '@switchyard/protocol';
import { type NatsServerHandle, startNats, startTcpRelay, waitFor } from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';
import { TunnelListener } from '@switchyard/tunnel';
import {
  answerControl,
  FrontEndLink,
  parseControlPath,
  publishSessionEnded,
  requestEvict,
  serveWorkerLink,
  type WorkerLinkServer,
  WorkerTunnels,
} from '@switchyard/worker-link';

/** A worker end: takes tickets of `versionId`, attaches, answers control streams from `held`. */
class TestWorker {
  readonly workerId = `w-${randomUUID().slice(0, 8)}`;
  readonly held = new Set<string>();
  readonly tunnels: WorkerTunnels;
  readonly controls: { reqId: string; action: string; proxyId: string }[] = [];
  server: WorkerLinkServer | undefined;

  /**
   * @param versionId the version this worker serves (announced on CONNECT; tickets' tokens are bound to it).
   * @param attachTimeoutMs budget of a NATS attach (@default WorkerTunnels').
   */
  constructor(nc: NatsConnection, versionId: string, attachTimeoutMs?: number) {
    this.tunnels = new WorkerTunnels({
      nc,
      workerId: this.workerId,
      versionId,
      attachTimeoutMs,
      onStream: (stream, headers, proxyId) => this.#onStream(stream, headers, proxyId),
      onClosed: () => undefined,
    });
  }

  /** Pulls one ticket of `versionId` and attaches it. @returns the ticket's request ID. */
  async takeOne(queue: TicketQueue, versionId: string): Promise<string> {
    const pulled = await (await queue.consumer(versionId)).next(5_000);
    assert.ok(pulled, 'a ticket was queued');
    const t = pulled.ticket;
    await this.tunnels.attach(t.proxyId, t.callbackUri, t.token, t.reqId);
    pulled.ack();
    this.held.add(t.reqId);
    return t.reqId;
  }

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, proxyId: string): void {
    const control = parseControlPath(headers[':path'] ?? '');
    if (!control) {
      stream.respond({ ':status': 418 }, { endStream: true });
      return;
    }
    this.controls.push({ ...control, proxyId });
    answerControl(stream, this.held.has(control.reqId) ? 200 : 404);
  }
}

describe('worker-link: front end and worker end over real NATS and tunnels', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let queue: TicketQueue;
  let listener: TunnelListener;
  let link: FrontEndLink;
  const ended: string[] = [];
  const instanceId = 'proxy-wl';
  /** What onAllocationEnd was told, in order. */
  const allocationEnds: { versionId: string; outcome: string; waitMs: number | undefined }[] = [];
  /** Outcomes (and whether a ticket wait was given) told for `versionId`. */
  const endsOf = (versionId: string) =>
    allocationEnds
      .filter((e) => e.versionId === versionId)
      .map((e) => `${e.outcome}${e.waitMs === undefined ? '' : '+wait'}`);

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    queue = await TicketQueue.open(nc, { region: 'wl' });
    listener = new TunnelListener({ host: '127.0.0.1', port: 0 });
    const port = await listener.listen();
    link = new FrontEndLink({
      nc,
      instanceId,
      tunnels: listener,
      queue,
      maxQueuePerVersion: 2,
      reconnectTimeoutMs: 1_000,
      noRespondersGraceMs: 300,
      onAllocationEnd: (_functionId, versionId, outcome, waitMs) => allocationEnds.push({ versionId, outcome, waitMs }),
    });
    await link.serve({ callbackUri: `http://127.0.0.1:${port}`, onSessionEnded: (reqId) => ended.push(reqId) });
  });
  after(async () => {
    link.close();
    await listener.close();
    await nc.close();
    await nats.stop();
  });

  function request(versionId: string, waitMs: number, extra: { signal?: AbortSignal } = {}) {
    return {
      reqId: randomUUID(),
      accountId: 'acct',
      functionId: randomUUID(),
      versionId,
      kind: 'grpc' as const,
      deadlineMs: Date.now() + waitMs,
      ...extra,
    };
  }

  test('W1: the first ticket dials a tunnel, the next one attaches over NATS on the same tunnel', async () => {
    const versionId = randomUUID();
    const worker = new TestWorker(nc, versionId);
    const first = link.allocate(request(versionId, 5_000));
    const firstReqId = await worker.takeOne(queue, versionId);
    const tunnel = await first;
    assert.equal(tunnel?.workerId, worker.workerId);
    const second = link.allocate(request(versionId, 5_000));
    const secondReqId = await worker.takeOne(queue, versionId);
    assert.equal(await second, tunnel, 'the second session rides the same tunnel');
    assert.notEqual(firstReqId, secondReqId);
    assert.equal(worker.tunnels.size, 1);
    assert.equal(listener.size, 1);
    assert.deepEqual(endsOf(versionId), ['assigned+wait', 'assigned+wait'], 'onAllocationEnd told each, with its wait');
    worker.tunnels.closeAll();
  });

  test('W1: a NATS attach whose reply was lost is asked again and answered attached, not dropped', async () => {
    // The worker's NATS link goes through a relay: 600 ms each way against a 1 s attach budget, so the
    // reply to an attach that the front end carried out comes too late.
    const relay = await startTcpRelay({ targetPort: nats.port });
    const slowNc = await connect({ servers: `nats://127.0.0.1:${relay.port}` });
    try {
      const versionId = randomUUID();
      const worker = new TestWorker(slowNc, versionId, 1_000);
      const first = link.allocate(request(versionId, 5_000));
      await worker.takeOne(queue, versionId); // dials the tunnel
      const tunnel = await first;
      relay.setDelay(600);
      const second = link.allocate(request(versionId, 10_000));
      const taken = worker.takeOne(queue, versionId); // attaches over NATS
      assert.equal(await second, tunnel, 'the front end attached the session to the tunnel');
      // Healed once the reply is on its slow way: the worker's first request times out (reply due at
      // ~1.2 s), its second one goes through.
      await new Promise((resolve) => setTimeout(resolve, 150));
      relay.setDelay(0);
      const startedMs = Date.now();
      await taken;
      assert.ok(Date.now() - startedMs >= 100, 'the worker waited out its first request');
      assert.equal(worker.tunnels.size, 1, 'no second tunnel');
      assert.equal(listener.pendingTokens, 0);
      worker.tunnels.closeAll();
    } finally {
      await slowNc.close();
      await relay.stop();
    }
  });

  /**
   * A front end whose tokens open a tunnel for 300 ms only (standing for W1's 30 s), on the suite's
   * NATS and ticket queue as instance `instanceId`. The caller closes both.
   */
  async function shortTokenFrontEnd(instanceId: string) {
    const short = new TunnelListener({ host: '127.0.0.1', port: 0, tokenTtlMs: 300 });
    const port = await short.listen();
    const shortLink = new FrontEndLink({ nc, instanceId, tunnels: short, queue, maxQueuePerVersion: 2 });
    await shortLink.serve({ callbackUri: `http://127.0.0.1:${port}`, onSessionEnded: () => undefined });
    return { short, shortLink };
  }

  test('W1: a ticket claimed after its token’s CONNECT lifetime gets a fresh token over NATS and is served', async () => {
    // 300 ms stands for W1's 30 s: the ticket waits 1 s before a worker claims it.
    const { short, shortLink } = await shortTokenFrontEnd('proxy-wl-short');
    try {
      const versionId = randomUUID();
      const worker = new TestWorker(nc, versionId);
      const allocation = shortLink.allocate(request(versionId, 10_000));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await worker.takeOne(queue, versionId);
      assert.equal((await allocation)?.workerId, worker.workerId);
      assert.equal(short.pendingTokens, 0);
      worker.tunnels.closeAll();
    } finally {
      shortLink.close();
      await short.close();
    }
  });

  test('W1: a refresh whose answer was lost is asked again and answered with the current token', async () => {
    // As above (300 ms stands for W1's 30 s), with the worker's NATS link through a relay delayed
    // 600 ms each way against a 1 s budget: the answer to the first refresh comes too late.
    const { short, shortLink } = await shortTokenFrontEnd('proxy-wl-refresh');
    const relay = await startTcpRelay({ targetPort: nats.port });
    const slowNc = await connect({ servers: `nats://127.0.0.1:${relay.port}` });
    // Sees each refresh reach the front end (a plain subscriber does not answer).
    const refreshes: number[] = [];
    const watch = nc.subscribe(NatsNames.proxyAttach('proxy-wl-refresh'), {
      callback: (_err, msg) => {
        if (decodeMessage(AttachRequestSchema, msg.data).refresh) refreshes.push(Date.now());
      },
    });
    try {
      const versionId = randomUUID();
      const worker = new TestWorker(slowNc, versionId, 1_000);
      const allocation = shortLink.allocate(request(versionId, 10_000));
      allocation.catch(() => undefined); // awaited below unless the worker fails first
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      relay.setDelay(600);
      const startedMs = Date.now();
      const taken = worker.takeOne(queue, versionId);
      // Healed once the first refresh was answered: that answer is already on its slow way.
      await waitFor(() => refreshes.length === 1, { timeoutMs: 5_000, what: 'the first refresh' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      relay.setDelay(0);
      await taken;
      assert.equal((await allocation)?.workerId, worker.workerId);
      assert.equal(refreshes.length, 2, 'the worker asked twice');
      assert.ok(Date.now() - startedMs >= 1_000, 'the worker waited out its first refresh');
      assert.equal(short.pendingTokens, 0);
      worker.tunnels.closeAll();
    } finally {
      watch.unsubscribe();
      shortLink.close();
      await short.close();
      await slowNc.close();
      await relay.stop();
    }
  });

  test('S4, G10: a full version is SY_QUEUE_FULL at once; an untaken ticket is SY_ATTACH_TIMEOUT and withdrawn', async () => {
    const versionId = randomUUID();
    // The two waiting allocations reject 400 ms on; their handlers are attached now, not after the
    // third allocation is refused (on a loaded machine that can take longer than 400 ms, and the
    // timeouts were then unhandled rejections).
    const waiting = [link.allocate(request(versionId, 400)), link.allocate(request(versionId, 400))].map((w) =>
      assert.rejects(w, (err) => isSwitchyardError(err, 'SY_ATTACH_TIMEOUT') && /within/.test(err.detail ?? '')),
    );
    assert.equal(link.queued(versionId), 2);
    await assert.rejects(link.allocate(request(versionId, 400)), (err) => isSwitchyardError(err, 'SY_QUEUE_FULL'));
    await Promise.all(waiting);
    assert.equal(link.queued(versionId), 0);
    await waitFor(async () => (await (await queue.consumer(versionId)).next(1_000)) === null, { timeoutMs: 5_000 });
    assert.equal(listener.pendingTokens, 0, 'the tokens were withdrawn');
    assert.deepEqual(endsOf(versionId), ['queue_full', 'timeout+wait', 'timeout+wait']);
  });

  test('H8: a caller that gives up resolves undefined and its ticket is withdrawn', async () => {
    const versionId = randomUUID();
    const abort = new AbortController();
    const pending = link.allocate(request(versionId, 10_000, { signal: abort.signal }));
    await waitFor(() => link.queued(versionId) === 1 && listener.pendingTokens > 0, { timeoutMs: 2_000 });
    await new Promise((r) => setTimeout(r, 100)); // the ticket is published
    abort.abort();
    assert.equal(await pending, undefined);
    assert.equal(await (await queue.consumer(versionId)).next(1_000), null, 'nothing left to take');
    assert.deepEqual(endsOf(versionId), ['cancelled+wait']);
  });

  test('admit runs inside the bound and its rejection is the allocation’s', async () => {
    const versionId = randomUUID();
    const refusal = new Error('rate limited');
    await assert.rejects(
      link.allocate({ ...request(versionId, 1_000), admit: async () => Promise.reject(refusal) }),
      (err) => err === refusal,
    );
    assert.equal(link.queued(versionId), 0);
    const limited = new SwitchyardError('SY_RATE_LIMITED');
    await assert.rejects(
      link.allocate({ ...request(versionId, 1_000), admit: async () => Promise.reject(limited) }),
      (err) => err === limited,
    );
    assert.deepEqual(endsOf(versionId), ['error', 'rate_limited'], 'no ticket was published: no wait');
  });

  test('flow 3, S1: resume and detach go over the tunnel’s control streams; a session the worker lacks is NOT_FOUND', async () => {
    const versionId = randomUUID();
    const worker = new TestWorker(nc, versionId);
    const allocation = link.allocate(request(versionId, 5_000));
    const reqId = await worker.takeOne(queue, versionId);
    await allocation;
    await link.resume(reqId, { versionId, workerId: worker.workerId });
    link.detach(reqId, worker.workerId, versionId);
    await waitFor(() => worker.controls.length === 2, { timeoutMs: 2_000 });
    assert.deepEqual(
      worker.controls.map((c) => [c.reqId, c.action, c.proxyId]),
      [
        [reqId, 'attach', instanceId],
        [reqId, 'detach', instanceId],
      ],
    );
    await assert.rejects(link.resume(randomUUID(), { versionId, workerId: worker.workerId }), (err) =>
      isSwitchyardError(err, 'SY_SESSION_NOT_FOUND'),
    );
    worker.tunnels.closeAll();
  });

  test('flow 3, G8: a reconnect dials again; a gone worker is NOT_FOUND after the grace; a silent one UNAVAILABLE', async () => {
    const versionId = randomUUID();
    const worker = new TestWorker(nc, versionId);
    const address = { versionId, workerId: worker.workerId };
    worker.server = await serveWorkerLink(nc, address, {
      reconnect: async (r) => {
        if (!worker.held.has(r.reqId)) throw new Error('unexpected');
        await worker.tunnels.attach(r.proxyId, r.callbackUri, r.token, r.reqId);
      },
      evict: async () => false,
    });
    const reqId = randomUUID();
    worker.held.add(reqId);
    const tunnel = await link.tunnelFor(reqId, address);
    assert.equal(tunnel.workerId, worker.workerId, 'no tunnel was up: the worker dialled one');
    assert.equal(await link.tunnelFor(reqId, address), tunnel, 'an open tunnel is used as it is');

    const started = Date.now();
    await assert.rejects(
      link.resume(randomUUID(), { versionId, workerId: `gone-${randomUUID().slice(0, 8)}` }),
      (err) => isSwitchyardError(err, 'SY_SESSION_NOT_FOUND'),
    );
    assert.ok(Date.now() - started >= 250, 'no responders is asked again for the grace');

    const silentId = `silent-${randomUUID().slice(0, 8)}`;
    const silent = nc.subscribe(NatsNames.workerReconnect(versionId, silentId)); // never answers
    await nc.flush();
    await assert.rejects(link.resume(randomUUID(), { versionId, workerId: silentId }), (err) =>
      isSwitchyardError(err, 'SY_WORKER_UNAVAILABLE'),
    );
    silent.unsubscribe();
    worker.server.close();
    worker.tunnels.closeAll();
  });

  test('S3: evict reaches the worker’s handler; a refusal, a gone worker and a malformed request read clearly', async () => {
    const workerId = `ev-${randomUUID().slice(0, 8)}`;
    const address = { versionId: randomUUID(), workerId };
    const held = new Set<string>([randomUUID()]);
    const server = await serveWorkerLink(nc, address, {
      reconnect: async () => undefined,
      evict: async (reqId) => held.delete(reqId),
    });
    const [reqId] = held;
    assert.equal(await requestEvict(nc, address, reqId, { timeoutMs: 1_000, noRespondersGraceMs: 0 }), 'evicted');
    await assert.rejects(link.evict(reqId, address), (err) => isSwitchyardError(err, 'SY_SESSION_NOT_FOUND'));
    await assert.rejects(
      requestEvict(nc, address, reqId, { timeoutMs: 1_000, noRespondersGraceMs: 0 }),
      (err) => isSwitchyardError(err, 'SY_SESSION_NOT_FOUND') && /refused/.test(err.detail ?? ''),
    );
    const malformed = await nc.request(
      NatsNames.workerEvict(address.versionId, workerId),
      encodeMessage({ reqId: 'not-a-uuid' }),
    );
    assert.deepEqual(decodeMessage(ControlReplySchema, malformed.data), {
      ok: false,
      code: 'SY_SESSION_NOT_FOUND',
      detail: 'malformed evict request',
    });
    server.close();
    assert.equal(await requestEvict(nc, address, reqId, { timeoutMs: 1_000, noRespondersGraceMs: 200 }), 'worker-gone');
    await assert.rejects(link.evict(reqId, address), (err) => isSwitchyardError(err, 'SY_SESSION_NOT_FOUND'));
    await assert.rejects(
      requestEvict(nc, { versionId: address.versionId, workerId: 'not a token' }, reqId, {
        timeoutMs: 1_000,
        noRespondersGraceMs: 0,
      }),
      (err) => isSwitchyardError(err, 'SY_INTERNAL'),
    );
  });

  test('S3: session-ended reaches the front end that held the session; a malformed one is ignored', async () => {
    const reqId = randomUUID();
    nc.publish(NatsNames.proxySessionEnded(instanceId), encodeMessage({ reqId: 'x', reason: 'nope' }));
    const message: SessionEnded = { reqId, reason: 'evicted' };
    publishSessionEnded(nc, [instanceId, 'proxy-elsewhere'], message);
    await waitFor(() => ended.includes(reqId), { timeoutMs: 2_000 });
    assert.deepEqual(ended, [reqId]);
  });

  test('a stream the front end opens in the same read as its CONNECT answer is handed on with that front end', async () => {
    // A front end that writes its 200, the HTTP/2 preface and a control attach in one tick, so the
    // worker reads them together (the CONNECT's `head`): the stream arrives before dialTunnel's
    // promise has resumed WorkerTunnels.attach.
    const reqId = randomUUID();
    const worker = new TestWorker(nc, randomUUID());
    worker.held.add(reqId);
    const statuses: number[] = [];
    const sessions: http2.ClientHttp2Session[] = [];
    const front = net.createServer((socket) => {
      let got = '';
      const onData = (chunk: Buffer) => {
        got += chunk.toString('latin1');
        if (!got.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        const session = http2.connect('http://front.invalid', { createConnection: () => socket });
        sessions.push(session);
        session.on('error', () => undefined);
        const control = session.request({
          ':method': 'POST',
          ':path': `/_switchyard/v1/sessions/${reqId}/attach`,
          [TunnelHeaders.control]: '1',
        });
        control.on('response', (h) => statuses.push(Number(h[':status'])));
        control.on('error', () => undefined);
        control.resume();
        control.end();
      };
      socket.on('data', onData);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    const { port } = front.address() as net.AddressInfo;
    try {
      await worker.tunnels.attach('front-early', `http://127.0.0.1:${port}`, 'sy_tok_early', reqId);
      await waitFor(() => statuses.length === 1, { timeoutMs: 2_000, what: 'the control answer' });
      assert.deepEqual(worker.controls, [{ reqId, action: 'attach', proxyId: 'front-early' }]);
      assert.deepEqual(statuses, [200]);
    } finally {
      worker.tunnels.closeAll();
      for (const s of sessions) s.destroy();
      front.close();
    }
  });

  test('control paths: only well-formed attach and detach paths parse', () => {
    const reqId = randomUUID();
    assert.deepEqual(parseControlPath(`/_switchyard/v1/sessions/${reqId}/detach`), { reqId, action: 'detach' });
    for (const path of [
      `/_switchyard/v1/sessions/${reqId}/evict`,
      `/_switchyard/v1/sessions/${reqId}/attach?x=1`,
      '/_switchyard/v1/sessions/../attach',
      `/other/v1/sessions/${reqId}/attach`,
    ])
      assert.equal(parseControlPath(path), undefined, path);
  });
});
