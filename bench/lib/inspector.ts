// Asks a node process started with `--inspect=127.0.0.1:<port>` to collect garbage and report its
// JS heap, over the DevTools protocol (Node's global WebSocket), so memory deltas are not noise
// from garbage that has not been collected yet.

/** JS heap of a process after a full GC, in bytes. */
export interface HeapUsage {
  usedBytes: number;
  totalBytes: number;
}

/** Forces a full GC in the inspected process and returns its heap usage afterwards. */
export async function gcAndHeapUsage(inspectPort: number): Promise<HeapUsage> {
  const list = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const url = list[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${inspectPort}`);
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot open inspector ${url}`)), { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  ws.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const call = (method: string) =>
    new Promise<unknown>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method }));
    });
  try {
    // Twice: the first pass may leave weakly held objects for the second.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const usage = (await call('Runtime.getHeapUsage')) as { usedSize: number; totalSize: number };
    return { usedBytes: usage.usedSize, totalBytes: usage.totalSize };
  } finally {
    ws.close();
  }
}
