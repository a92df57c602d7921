// Test helpers: an in-memory CliIo, and the real api service started as a child process on a free
// port against a testkit nats-server.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../src/index.ts';

/** A CliIo that records output. */
export interface RecordingIo extends CliIo {
  out: string;
  err: string;
}

/** An in-memory CliIo with the given environment and working directory. */
export function recordingIo(env: Record<string, string | undefined> = {}, cwd = process.cwd()): RecordingIo {
  const io: RecordingIo = {
    out: '',
    err: '',
    env,
    cwd,
    stdout: (text) => {
      io.out += text;
    },
    stderr: (text) => {
      io.err += text;
    },
  };
  return io;
}

/** A running api child. */
export interface ApiProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts services/api/src/main.ts on a free port; resolves when it printed its ready line. */
export async function startApi(natsUrl: string, adminToken: string, region = 'local'): Promise<ApiProcess> {
  const main = fileURLToPath(new URL('../../api/src/main.ts', import.meta.url));
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH ?? '',
      SWITCHYARD_LOG_LEVEL: 'warn',
      SWITCHYARD_REGION: region,
      SWITCHYARD_NATS_SERVERS: natsUrl,
      SWITCHYARD_ADMIN_TOKEN: adminToken,
      SWITCHYARD_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`api did not start: ${stderr}`)), 20_000);
    child.stdout?.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(line).port);
      }
    });
    child.once('exit', (code) => reject(new Error(`api exited ${code}: ${stderr}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
