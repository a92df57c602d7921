// An OTLP/HTTP trace collector for tests (POST /v1/traces, JSON encoding: set
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json), with helpers to make client trace contexts and to
// assert parent/child links between the exported spans.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { sleep } from '../services/worker/test/helpers.ts';

/** OTLP span kinds (opentelemetry/proto trace.proto). */
export const Kind = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

/** One exported span, flattened with its resource's `service.name`. */
export interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
  status: number;
}

/** OTLP/JSON IDs are hex; a base64 encoder's are turned into hex. */
function hexId(id: unknown): string {
  const s = typeof id === 'string' ? id : '';
  return /^([0-9a-f]{16}|[0-9a-f]{32})$/i.test(s) ? s.toLowerCase() : Buffer.from(s, 'base64').toString('hex');
}

/** An OTLP AnyValue as a plain value. */
function anyValue(v: Record<string, unknown> | undefined): unknown {
  if (v === undefined) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('boolValue' in v) return v.boolValue;
  if ('doubleValue' in v) return v.doubleValue;
  return v;
}

/** The collector: `POST /v1/traces` (OTLP/HTTP, JSON), every span kept. */
export class Collector {
  /** Every span received so far, in arrival order. */
  readonly spans: ExportedSpan[] = [];
  /** The HTTP server (close it when done). */
  readonly server: Server;
  /** Export requests received. */
  requests = 0;

  constructor() {
    this.server = createServer((req, res) => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests++;
        try {
          assert.match(String(req.headers['content-type']), /application\/json/);
          this.#take(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
        } catch (err) {
          res.writeHead(400).end(String(err));
        }
      });
    });
  }

  #take(body: { resourceSpans?: Record<string, unknown>[] }): void {
    for (const rs of body.resourceSpans ?? []) {
      const resource = rs.resource as { attributes?: { key: string; value: Record<string, unknown> }[] } | undefined;
      const service = String(anyValue(resource?.attributes?.find((a) => a.key === 'service.name')?.value));
      for (const ss of (rs.scopeSpans as { spans?: Record<string, unknown>[] }[]) ?? []) {
        for (const s of ss.spans ?? []) {
          const attributes: Record<string, unknown> = {};
          for (const a of (s.attributes as { key: string; value: Record<string, unknown> }[]) ?? [])
            attributes[a.key] = anyValue(a.value);
          this.spans.push({
            service,
            traceId: hexId(s.traceId),
            spanId: hexId(s.spanId),
            parentSpanId: s.parentSpanId ? hexId(s.parentSpanId) : '',
            name: String(s.name),
            kind: Number(s.kind),
            attributes,
            status: Number((s.status as { code?: number } | undefined)?.code ?? 0),
          });
        }
      }
    }
  }

  /** Listens on an ephemeral loopback port; resolves with it (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<port>`). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  /** The spans of trace `traceId` received so far. */
  of(traceId: string): ExportedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  /** Waits until trace `traceId` has every span name in `names` (exports are batched). */
  async waitFor(traceId: string, names: string[], budgetMs = 20_000): Promise<ExportedSpan[]> {
    const deadline = Date.now() + budgetMs;
    for (;;) {
      const spans = this.of(traceId);
      const missing = names.filter((n) => !spans.some((s) => s.name === n));
      if (missing.length === 0) return spans;
      if (Date.now() > deadline) {
        assert.fail(
          `trace ${traceId}: spans ${missing.join(', ')} never arrived; got ${spans.map((s) => `${s.service}:${s.name}`).join(', ') || 'none'}`,
        );
      }
      await sleep(100);
    }
  }
}

/** A client span of our own: a new trace ID and span ID, as the W3C header a client sends. */
export function clientTrace(sampled: boolean): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
}

/** The one span named `name` in `spans` (a defect when there are none or several). */
export function one(spans: ExportedSpan[], name: string): ExportedSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one ${name} span: ${JSON.stringify(found)}`);
  return found[0];
}

/** Asserts `child` is a child of `parent` in the same trace. */
export function assertChild(child: ExportedSpan, parent: ExportedSpan): void {
  assert.equal(child.traceId, parent.traceId);
  assert.equal(
    child.parentSpanId,
    parent.spanId,
    `${child.service}:${child.name} should be a child of ${parent.service}:${parent.name}`,
  );
}

/** `00-<trace>-<span>-<flags>` split, or assert.fail. */
export function parseTraceparent(value: unknown): { traceId: string; spanId: string; flags: string } {
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(value));
  assert.ok(m, `a W3C traceparent, got ${JSON.stringify(value)}`);
  return { traceId: m[1], spanId: m[2], flags: m[3] };
}
