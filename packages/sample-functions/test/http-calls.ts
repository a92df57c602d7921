// node:http client helpers for the HTTP sample's tests: one request, the whole answer.

import * as http from 'node:http';

/** A finished response. */
export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The body parsed as JSON (undefined when it is not JSON). */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers
  json: any;
}

/** Options of {@link request}. */
export interface RequestOptions {
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  /** A whole body, or chunks written one by one (awaiting backpressure). */
  body?: string | Buffer | Iterable<Buffer> | AsyncIterable<Buffer>;
  agent?: http.Agent | false;
}

/** Sends one request to 127.0.0.1:`port` and resolves with the whole response. */
export function request(port: number, path: string, options: RequestOptions = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => {
          const body = Buffer.concat(chunks);
          let json: unknown;
          try {
            json = JSON.parse(body.toString('utf8'));
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
        });
      },
    );
    req.once('error', reject);
    const body = options.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    void (async () => {
      for await (const chunk of body) {
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch((err) => req.destroy(err as Error));
  });
}

/** Splits `buffer` into chunks whose sizes cycle through `sizes`. */
export function* splitInto(buffer: Buffer, sizes: number[]): Generator<Buffer> {
  let at = 0;
  let i = 0;
  while (at < buffer.length) {
    const size = sizes[i++ % sizes.length] as number;
    yield buffer.subarray(at, at + size);
    at += size;
  }
}

/** A multipart/form-data body with the given parts (content as given, no transfer encoding). */
export function multipartBody(
  boundary: string,
  parts: { name: string; filename?: string; contentType?: string; content: Buffer | string }[],
  { preamble = '', epilogue = '' }: { preamble?: string; epilogue?: string } = {},
): Buffer {
  const pieces: Buffer[] = [Buffer.from(preamble === '' ? '' : `${preamble}\r\n`)];
  for (const part of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"`;
    if (part.filename !== undefined) head += `; filename="${part.filename}"`;
    head += '\r\n';
    if (part.contentType !== undefined) head += `Content-Type: ${part.contentType}\r\n`;
    pieces.push(Buffer.from(`${head}\r\n`), Buffer.from(part.content), Buffer.from('\r\n'));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n${epilogue}`));
  return Buffer.concat(pieces);
}
