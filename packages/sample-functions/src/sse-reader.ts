// Client side of Server-Sent Events for tests, the bench and the soak script: turns a response body
// into events as they arrive, each stamped with its arrival time, so per-event latency can be
// measured against the `created_ms` the sample stamps into each chunk.

import { nowMs } from './http-chat.ts';

/** One event of an event stream. */
export interface SseEvent {
  /** `data:` lines joined with '\n'. */
  data: string;
  /** `event:` field, when present. */
  event?: string;
  /** `id:` field, when present. */
  id?: string;
  /** Wall-clock time (ms, sub-ms precision) when the event's last byte was read. */
  receivedMs: number;
}

function parseEvent(block: string, receivedMs: number): SseEvent | undefined {
  const data: string[] = [];
  const event: SseEvent = { data: '', receivedMs };
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event.event = value;
    else if (field === 'id') event.id = value;
  }
  if (data.length === 0 && event.event === undefined) return undefined;
  event.data = data.join('\n');
  return event;
}

/**
 * Yields the events of an SSE body (any async iterable of bytes or strings, e.g. an
 * http.IncomingMessage) as each one completes. Comment-only blocks are skipped.
 */
export async function* readSseEvents(body: AsyncIterable<Buffer | string>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of body) {
    const receivedMs = nowMs();
    buffered += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(buffered);
      if (match === null) break;
      const block = buffered.slice(0, match.index);
      buffered = buffered.slice(match.index + match[0].length);
      const event = parseEvent(block, receivedMs);
      if (event) yield event;
    }
  }
  buffered += decoder.decode();
  if (buffered.trim() !== '') {
    const event = parseEvent(buffered, nowMs());
    if (event) yield event;
  }
}
