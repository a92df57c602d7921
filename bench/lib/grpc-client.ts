// Bench client child process (its CPU is kept apart from the processes under test):
//   grpc-client.ts verify --target H:P [--metadata JSON] [--calls N] [--concurrency C]
//     N unary Echo calls; every one must end with grpc-status 0 and echo its payload.
//   grpc-client.ts bidi --target H:P [--metadata JSON] [--calls 16] [--message-bytes 65536]
//                       [--warmup-s 2] [--duration-s 10]
//     C concurrent Bidi calls, each writing messages as fast as flow control allows; prints
//     {"phase":"measure-start"} and {"phase":"measure-end",...} around the measured window.
// Prints one JSON result line and exits 0, or 1 with {"error":...} when a check fails.

import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { echoResponsePayload, encodeEchoRequest, patternPayload } from './grpc-frame.ts';

const UNARY_PATH = '/switchyard.echo.v1.Echo/Unary';
const BIDI_PATH = '/switchyard.echo.v1.Echo/Bidi';
const identity = (b: Buffer) => b;
const CHANNEL_OPTIONS = {
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
  // One connection per client, whatever other clients in this process do.
  'grpc.use_local_subchannel_pool': 1,
} as const;

function emit(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function metadataOf(json: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(JSON.parse(json ?? '{}') as Record<string, string>)) md.set(k, v);
  return md;
}

async function verify(target: string, metadata: grpc.Metadata, calls: number, concurrency: number): Promise<void> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const payload = patternPayload(100);
  const request = encodeEchoRequest(payload);
  let next = 0;
  let ok = 0;
  const failures: string[] = [];
  const one = () =>
    new Promise<void>((resolve) => {
      client.makeUnaryRequest(UNARY_PATH, identity, identity, request, metadata, {}, (err, response) => {
        if (err) failures.push(`grpc-status ${err.code}: ${err.details}`);
        else if (!response || !echoResponsePayload(response)?.equals(payload)) failures.push('payload not echoed');
        else ok++;
        resolve();
      });
    });
  const lane = async () => {
    while (next < calls) {
      next++;
      await one();
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, lane));
  client.close();
  const result = { verify: { calls, ok, failed: failures.length, ms: performance.now() - started } };
  if (failures.length > 0) {
    emit({ ...result, error: `verification failed: ${[...new Set(failures)].slice(0, 5).join('; ')}` });
    process.exit(1);
  }
  emit(result);
}

async function bidi(
  target: string,
  metadata: grpc.Metadata,
  calls: number,
  messageBytes: number,
  warmupS: number,
  durationS: number,
): Promise<void> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  const message = encodeEchoRequest(patternPayload(messageBytes));
  let receivedBytes = 0;
  let receivedMessages = 0;
  let stopping = false;
  const statuses: Promise<grpc.StatusObject>[] = [];
  const open: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  for (let i = 0; i < calls; i++) {
    const call = client.makeBidiStreamRequest(BIDI_PATH, identity, identity, metadata, {});
    call.on('data', (m: Buffer) => {
      receivedBytes += m.length;
      receivedMessages++;
    });
    statuses.push(new Promise((resolve) => call.on('status', resolve)));
    call.on('error', () => {}); // reported through 'status'
    const pump = () => {
      while (!stopping && call.write(message)) {}
    };
    call.on('drain', pump);
    pump();
    open.push(call);
  }
  await new Promise((r) => setTimeout(r, warmupS * 1000));
  const startBytes = receivedBytes;
  const startMessages = receivedMessages;
  const t0 = performance.now();
  emit({ phase: 'measure-start' });
  await new Promise((r) => setTimeout(r, durationS * 1000));
  const elapsedS = (performance.now() - t0) / 1000;
  const bytes = receivedBytes - startBytes;
  const messages = receivedMessages - startMessages;
  emit({ phase: 'measure-end', bytes, messages, elapsedS });
  stopping = true;
  for (const call of open) call.end();
  // Calls blocked on flow control end when the echo drains them; give them a bounded time.
  const ended = await Promise.race([
    Promise.all(statuses),
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000)),
  ]);
  client.close();
  const bad =
    ended === undefined
      ? ['calls did not end within 30 s']
      : ended.filter((s) => s.code !== 0).map((s) => `grpc-status ${s.code}: ${s.details}`);
  const result = { bidi: { calls, messageBytes, bytes, messages, elapsedS, mbPerS: bytes / elapsedS / 1e6 } };
  if (bad.length > 0) {
    emit({ ...result, error: `bidi calls failed: ${[...new Set(bad)].slice(0, 5).join('; ')}` });
    process.exit(1);
  }
  emit(result);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    target: { type: 'string' },
    metadata: { type: 'string' },
    calls: { type: 'string' },
    concurrency: { type: 'string' },
    'message-bytes': { type: 'string' },
    'warmup-s': { type: 'string' },
    'duration-s': { type: 'string' },
  },
});
const target = values.target ?? '127.0.0.1:50051';
const metadata = metadataOf(values.metadata);
if (positionals[0] === 'verify') {
  await verify(target, metadata, Number(values.calls ?? 500), Number(values.concurrency ?? 16));
} else if (positionals[0] === 'bidi') {
  await bidi(
    target,
    metadata,
    Number(values.calls ?? 16),
    Number(values['message-bytes'] ?? 65536),
    Number(values['warmup-s'] ?? 2),
    Number(values['duration-s'] ?? 10),
  );
} else {
  process.stderr.write('usage: grpc-client.ts verify|bidi --target H:P [...]\n');
  process.exit(2);
}
process.exit(0);
