// Runnable sample function container for the dev stack:
//   node packages/sample-functions/src/main.ts echo|inference|http --port N [--host H] [--instance-id ID]
// Prints {"ready":true,"port":N} on stdout once listening; drains and exits 0 on SIGTERM/SIGINT.

import { parseArgs } from 'node:util';
import { startEchoServer } from './echo-server.ts';
import { startHttpSampleServer } from './http-server.ts';
import { startInferenceServer } from './inference-server.ts';
import type { SampleServerHandle, SampleServerOptions } from './server-handle.ts';

const USAGE = 'usage: main.ts echo|inference|http [--port N] [--host H] [--instance-id ID]';

const starters: Record<string, (options: SampleServerOptions) => Promise<SampleServerHandle>> = {
  echo: startEchoServer,
  inference: startInferenceServer,
  http: startHttpSampleServer,
};

function fail(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (err) {
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  const kind = positionals[0];
  const start = kind === undefined ? undefined : starters[kind];
  if (start === undefined || positionals.length !== 1)
    fail(`expected one kind (echo, inference or http), got ${positionals.join(' ') || 'none'}`);
  const port = Number(values.port ?? '0');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    fail(`--port must be an integer in 0..65535, got ${values.port}`);

  const handle = await start({ port, host: values.host, instanceId: values['instance-id'] });
  const shutdown = () => {
    process.off('SIGTERM', shutdown);
    process.off('SIGINT', shutdown);
    handle.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.stdout.write(`${JSON.stringify({ ready: true, port: handle.port })}\n`);
}

function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      'instance-id': { type: 'string' },
    },
  });
}

await main();
