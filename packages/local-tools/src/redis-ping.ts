// Is a redis-server up? An inline PING over a raw socket: no client library, so the CLI and the
// test kit can probe a server they just started without depending on one.

import { connect } from 'node:net';

/**
 * Sends an inline `PING` to redis on 127.0.0.1:`port`; true when the reply is `+PONG` (never rejects).
 * @param port redis port.
 * @param timeoutMs give up (false) after this many milliseconds.
 */
export function redisPing(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}
