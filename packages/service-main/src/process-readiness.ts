// Readiness of an instance that runs as N processes (SWITCHYARD_PROCESSES): the cluster primary polls
// every other child's own /readyz each second and reports the ones not ready (or not answering, or
// exited and restarting) to child 0 over IPC; child 0's metrics port, the one the ready line and
// dev.json name for the instance, fails a `processes` readiness check naming them. A child the primary
// has not heard from counts as not ready, so a stopped (SIGSTOP) or killed child fails the instance;
// one that gives no answer at all for SWITCHYARD_PROCESS_LIVENESS_TIMEOUT_MS is reported unresponsive,
// and the primary kills it (a wedged process would keep taking the connections handed to it).
import cluster from 'node:cluster';
import type { Telemetry } from '@switchyard/telemetry';

/** How often the primary polls each child's `/readyz`, ms. */
export const PROCESS_POLL_INTERVAL_MS = 1_000;
/** A child's `/readyz` that has not answered within this long counts as not answering, ms. */
export const PROCESS_POLL_TIMEOUT_MS = 1_000;
/** Name of child 0's readiness check that covers the other processes. */
export const PROCESSES_CHECK = 'processes';

/** One child that is not ready, as the primary last saw it. */
export interface ProcessNotReady {
  /** The child's index (1..N-1; child 0 reports for itself). */
  index: number;
  /** Its PID, when forked. */
  pid?: number;
  /** What is wrong, for a human: `process 1 (pid 4242) is not answering /readyz within 1000 ms`. */
  message: string;
}

/** What the primary sends child 0 whenever the set of children not ready changes (and when child 0 starts). */
export interface ProcessesReportMessage {
  switchyardProcesses: { notReady: ProcessNotReady[] };
}

/** What the primary knows of one child. */
interface ChildState {
  pid?: number;
  /** `http://host:port/readyz`, once the child's ready line named a metrics URL. */
  readyzUrl?: string;
  /** Why it is not ready, or undefined when it is. */
  notReady?: string;
  polling: boolean;
  /** When polls started getting no answer at all (timeout, refused), ms since epoch; undefined while it answers. */
  silentSince?: number;
  /** `onUnresponsive` was called for this child (once per child). */
  reported?: boolean;
}

/** Options of {@link ProcessReadiness}. */
export interface ProcessReadinessOptions {
  /** Processes of the instance (children 0..count-1). */
  count: number;
  /** Delivers a report to child 0 (the primary sends it over IPC); called with every change. */
  send(message: ProcessesReportMessage): void;
  /** Poll interval, ms. @default PROCESS_POLL_INTERVAL_MS */
  intervalMs?: number;
  /** Per-poll timeout, ms. @default PROCESS_POLL_TIMEOUT_MS */
  timeoutMs?: number;
  /**
   * A child whose `/readyz` has given no answer at all (timed out or refused; a 503 is an answer) for
   * this long is unresponsive: `onUnresponsive` is called once for it. 0 = never. @default 0
   */
  livenessTimeoutMs?: number;
  /** Called once for a child that has been unresponsive for `livenessTimeoutMs` (the primary kills it). */
  onUnresponsive?(index: number, pid: number, message: string): void;
}

/**
 * The primary's side: the lifecycle events of `runPrimary` (forked, ready, exited) and a poll of
 * children 1..count-1 every `intervalMs` on `/readyz` (200 = ready; 503 = not ready, its `reasons`
 * quoted; no answer within `timeoutMs` or a refused connection = not answering). A child without a
 * metrics URL (metrics off) is ready from its ready line until it exits.
 */
export class ProcessReadiness {
  readonly #options: Required<ProcessReadinessOptions>;
  readonly #children: ChildState[];
  #timer: NodeJS.Timeout | undefined;
  #last = '';

  /** @param options child count, the sender to child 0, poll interval and timeout. */
  constructor(options: ProcessReadinessOptions) {
    this.#options = {
      intervalMs: PROCESS_POLL_INTERVAL_MS,
      timeoutMs: PROCESS_POLL_TIMEOUT_MS,
      livenessTimeoutMs: 0,
      onUnresponsive: () => {},
      ...options,
    };
    this.#children = Array.from({ length: options.count }, (_, i) => ({
      notReady: `process ${i} has not started`,
      polling: false,
    }));
  }

  /** Child `index` was forked as `pid`: not ready until its ready line. */
  forked(index: number, pid: number | undefined): void {
    this.#children[index] = { pid, notReady: `process ${index} (pid ${pid}) is starting`, polling: false };
    this.#changed();
  }

  /**
   * Child `index` printed its ready line (`metricsUrl` from it, if any): ready until a poll says
   * otherwise. Child 0 getting ready is sent the current report at once (it fails `processes` until then).
   */
  ready(index: number, pid: number | undefined, metricsUrl: unknown): void {
    const child = this.#children[index];
    child.pid = pid;
    child.notReady = undefined;
    if (typeof metricsUrl === 'string') {
      const url = new URL(metricsUrl);
      url.pathname = '/readyz';
      child.readyzUrl = url.toString();
    }
    this.#changed(index === 0);
  }

  /** Child `index` exited (`code`/`signal`); the primary restarts it after `restartInMs`. */
  exited(index: number, code: number | null, signal: string | null, restartInMs: number): void {
    const pid = this.#children[index].pid;
    const how = signal !== null ? `signal ${signal}` : `code ${code}`;
    this.#children[index] = {
      pid,
      notReady: `process ${index} (pid ${pid}) exited (${how}); restarting in ${restartInMs} ms`,
      polling: false,
    };
    this.#changed();
  }

  /** Starts polling (children 1..count-1, every `intervalMs`). */
  start(): void {
    this.#timer ??= setInterval(() => {
      for (let i = 1; i < this.#children.length; i++) void this.#poll(i);
    }, this.#options.intervalMs);
  }

  /** Stops polling (the primary is draining). */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The children 1..count-1 that are not ready, as last seen. */
  notReady(): ProcessNotReady[] {
    const out: ProcessNotReady[] = [];
    for (let i = 1; i < this.#children.length; i++) {
      const { pid, notReady } = this.#children[i];
      if (notReady !== undefined) out.push({ index: i, ...(pid !== undefined ? { pid } : {}), message: notReady });
    }
    return out;
  }

  async #poll(index: number): Promise<void> {
    const child = this.#children[index];
    if (child.readyzUrl === undefined || child.polling || child.pid === undefined) return;
    child.polling = true;
    const url = child.readyzUrl;
    const who = `process ${index} (pid ${child.pid})`;
    let notReady: string | undefined;
    let answered = true;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.#options.timeoutMs) });
      const body = (await res.json().catch(() => ({}))) as { reasons?: { message?: string }[] };
      if (res.status !== 200) {
        const why = (body.reasons ?? []).map((r) => r.message).filter((m) => typeof m === 'string');
        notReady = `${who} is not ready: ${why.length > 0 ? why.join('; ') : `/readyz answered ${res.status}`}`;
      }
    } catch (err) {
      answered = false;
      const e = err as { name?: string; cause?: { code?: string }; message?: string };
      notReady =
        e.name === 'TimeoutError'
          ? `${who} is not answering /readyz within ${this.#options.timeoutMs} ms`
          : `${who} is not answering /readyz: ${e.cause?.code ?? e.message}`;
    }
    // An answer about a process that has since exited or been replaced is stale.
    if (this.#children[index] !== child) return;
    child.polling = false;
    child.notReady = notReady;
    this.#changed();
    if (answered) child.silentSince = undefined;
    else this.#silent(index, child, notReady ?? who);
  }

  /** A poll of `child` got no answer: past `livenessTimeoutMs` of that, it is reported unresponsive once. */
  #silent(index: number, child: ChildState, why: string): void {
    const now = Date.now();
    child.silentSince ??= now;
    const limit = this.#options.livenessTimeoutMs;
    if (limit <= 0 || child.reported || child.pid === undefined || now - child.silentSince < limit) return;
    child.reported = true;
    this.#options.onUnresponsive(index, child.pid, `${why} for ${now - child.silentSince} ms`);
  }

  /** Sends the report when it differs from the last one sent (or always, when `force`). */
  #changed(force = false): void {
    const notReady = this.notReady();
    const text = JSON.stringify(notReady);
    if (!force && text === this.#last) return;
    this.#last = text;
    this.#options.send({ switchyardProcesses: { notReady } });
  }
}

/**
 * Child 0's side: adds the {@link PROCESSES_CHECK} readiness check, failing until the primary's first
 * report and then while any other child is not ready (its message names each, e.g. `process 1 (pid
 * 4242) is not answering /readyz within 1000 ms`). No-op outside a cluster child 0.
 * @param telemetry this process's telemetry (its `/readyz`).
 */
export function watchOtherProcesses(telemetry: Pick<Telemetry, 'addReadinessCheck'>): void {
  if (!cluster.isWorker || Number(process.env.SWITCHYARD_PROCESS_INDEX ?? 0) !== 0) return;
  let notReady: ProcessNotReady[] | undefined;
  process.on('message', (msg: Partial<ProcessesReportMessage>) => {
    if (msg?.switchyardProcesses !== undefined) notReady = msg.switchyardProcesses.notReady;
  });
  telemetry.addReadinessCheck(PROCESSES_CHECK, () => {
    if (notReady === undefined) return { reason: 'processes: waiting for the primary to report the other processes' };
    return notReady.length === 0 ? true : { reason: notReady.map((p) => p.message).join('; ') };
  });
}
