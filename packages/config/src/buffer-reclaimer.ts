// Reclaims spent body buffers between V8's own collections (docs/configuration.md, "Node options").
import { getHeapStatistics } from 'node:v8';

/** Options of `startBufferReclaimer`. */
export interface BufferReclaimerOptions {
  /** How often V8's external memory is read, in ms (default 20). */
  intervalMs?: number;
  /** Growth of V8's external memory over its lowest reading since the last collection asked for that starts a young-generation one, in bytes (default 8 MiB). */
  thresholdBytes?: number;
}

/** A running reclaimer: `stop()` clears its timer; `collections` counts the young-generation GCs it asked for. */
export interface BufferReclaimer {
  readonly collections: number;
  stop(): void;
}

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/**
 * Starts a timer that asks V8 for a young-generation collection (a scavenge, a few milliseconds)
 * whenever the memory held outside the JS heap (V8's `external_memory`: every Buffer a socket read or
 * HTTP/2 DATA frame allocates) has grown by `thresholdBytes` over its lowest reading since the last
 * collection asked for. A streamed body leaves one spent Buffer per chunk; V8 frees them only when it
 * collects the young generation, which little JS garbage per chunk makes rare, so without this up to
 * V8's external-memory trigger (about 64 MiB) piles up during an upload. Needs the `gc` function of
 * `--expose-gc` (SERVICE_NODE_OPTIONS).
 *
 * Each tick reads `getHeapStatistics().external_memory` (about 2 us, no system call), which V8 lowers
 * a little after a collection frees Buffers; hence the lowest reading, not the one right after a
 * collection, is the base. An earlier version confirmed the growth with `process.memoryUsage()`
 * (its `arrayBuffers`) at least every 200 ms; that call reads the RSS from /proc and, with the
 * collections it confirmed, cost about 2% of the invocation service's and 7% of an HTTP worker's
 * CPU per small request (bench/RESULTS.md, session 15), for the same bound on a 2 GiB upload.
 * @returns the reclaimer, or undefined when `gc` is not exposed (nothing is started).
 */
export function startBufferReclaimer(options: BufferReclaimerOptions = {}): BufferReclaimer | undefined {
  const gc = (globalThis as { gc?: GcFunction }).gc;
  if (typeof gc !== 'function') return undefined;
  const threshold = options.thresholdBytes ?? 8 * 1024 * 1024;
  let low = getHeapStatistics().external_memory;
  let collections = 0;
  const timer = setInterval(() => {
    const now = getHeapStatistics().external_memory;
    if (now < low) low = now;
    if (now - low < threshold) return;
    gc({ type: 'minor' });
    collections++;
    low = getHeapStatistics().external_memory;
  }, options.intervalMs ?? 20);
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
