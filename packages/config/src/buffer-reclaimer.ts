// Reclaims spent body buffers between V8's own collections (docs/configuration.md, "Node options").
import { memoryUsage } from 'node:process';
import { getHeapStatistics } from 'node:v8';

/** Options of `startBufferReclaimer`. */
export interface BufferReclaimerOptions {
  /** How often `arrayBuffers` is read, in ms (default 20). */
  intervalMs?: number;
  /** Growth of `arrayBuffers` since the last collection that starts a young-generation one, in bytes (default 8 MiB). */
  thresholdBytes?: number;
}

/** A running reclaimer: `stop()` clears its timer; `collections` counts the young-generation GCs it asked for. */
export interface BufferReclaimer {
  readonly collections: number;
  stop(): void;
}

type GcFunction = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/** Ticks between two readings of `memoryUsage()` when the cheap gate does not ask for one sooner. */
const FULL_READ_EVERY_TICKS = 10;

/**
 * Starts a timer that asks V8 for a young-generation collection (a scavenge, a few milliseconds)
 * whenever the memory held by ArrayBuffers (`process.memoryUsage().arrayBuffers`: every Buffer a
 * socket read or HTTP/2 DATA frame allocates) has grown by `thresholdBytes` since the last one.
 * A streamed body leaves one spent Buffer per chunk; V8 frees them only when it collects the young
 * generation, which little JS garbage per chunk makes rare, so without this up to V8's
 * external-memory trigger (about 64 MiB) piles up during an upload. Small requests never cross the
 * threshold and pay nothing. Needs the `gc` function of `--expose-gc` (SERVICE_NODE_OPTIONS).
 *
 * `memoryUsage()` also reads the RSS from /proc (tens of microseconds, more under load: it was 2-5%
 * of a busy service's CPU at one reading per tick), so each tick first reads V8's `external_memory`
 * (about 2 us, no system call), which follows the ArrayBuffers' bytes (updated by V8 a little after a
 * collection frees them): `memoryUsage()` is read when it has grown by half the threshold over its
 * lowest figure since the last collection asked for, and every {@link FULL_READ_EVERY_TICKS} ticks
 * regardless.
 * @returns the reclaimer, or undefined when `gc` is not exposed (nothing is started).
 */
export function startBufferReclaimer(options: BufferReclaimerOptions = {}): BufferReclaimer | undefined {
  const gc = (globalThis as { gc?: GcFunction }).gc;
  if (typeof gc !== 'function') return undefined;
  const threshold = options.thresholdBytes ?? 8 * 1024 * 1024;
  let base = memoryUsage().arrayBuffers;
  let external = getHeapStatistics().external_memory;
  let ticks = 0;
  let collections = 0;
  const timer = setInterval(() => {
    const externalNow = getHeapStatistics().external_memory;
    // The lowest figure since the last collection asked for: V8 lowers it a little after one.
    if (externalNow < external) external = externalNow;
    if (++ticks < FULL_READ_EVERY_TICKS && externalNow - external < threshold / 2) return;
    ticks = 0;
    const now = memoryUsage().arrayBuffers;
    if (now - base < threshold) {
      if (now < base) base = now;
      return;
    }
    gc({ type: 'minor' });
    collections++;
    base = memoryUsage().arrayBuffers;
    external = getHeapStatistics().external_memory;
  }, options.intervalMs ?? 20);
  timer.unref();
  return {
    get collections() {
      return collections;
    },
    stop: () => clearInterval(timer),
  };
}
