// A raw TCP client for listener tests: writes a request in pieces, with pauses between them, so that
// a server sees each piece as its own read (protocol sniffers, header timeouts).
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Connects to 127.0.0.1:`port`, writes each of `parts` (latin1) with `gapMs` between them, then
 * collects what the server sends until it closes the connection or `waitMs` passes.
 * @returns the bytes received, as latin1. Never rejects for a reset connection.
 */
export async function sendInPieces(
  port: number,
  parts: readonly string[],
  gapMs = 150,
  waitMs = 3_000,
): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  socket.on('error', () => {});
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  for (const part of parts) {
    socket.write(Buffer.from(part, 'latin1'));
    await sleep(gapMs);
  }
  await Promise.race([once(socket, 'close'), sleep(waitMs)]);
  socket.destroy();
  return Buffer.concat(chunks).toString('latin1');
}
