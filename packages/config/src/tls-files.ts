// TLS fields of the listeners every service opens (issue 8, "TLS everywhere a byte leaves the host"):
// a client listener (SWITCHYARD_TLS_CERT_FILE / _KEY_FILE) and a worker callback listener
// (SWITCHYARD_CALLBACK_TLS_CERT_FILE / _KEY_FILE). Files are read and checked when the config loads,
// so a missing or unreadable file, a file that is not PEM, half a pair or a key that is not the
// certificate's are ConfigError problems listed with every other one. No hot reload: a rotated
// certificate is picked up by a (rolling) restart, docs/tls.md.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Reads `path` or returns the problem (the errno code, e.g. ENOENT). */
function readOrProblem(path: string): { text: string } | { problem: string } {
  try {
    return { text: readFileSync(path, 'utf8') };
  } catch (err) {
    return { problem: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
}

/** A readable PEM certificate (chain) file. */
const certFile = z
  .string()
  .min(1)
  .superRefine((path, ctx) => {
    const read = readOrProblem(path);
    if ('problem' in read) return ctx.addIssue({ code: 'custom', message: read.problem });
    try {
      new X509Certificate(read.text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a PEM certificate: ${(err as Error).message}` });
    }
  });

/** A readable PEM private key file (unencrypted). */
const keyFile = z
  .string()
  .min(1)
  .superRefine((path, ctx) => {
    const read = readOrProblem(path);
    if ('problem' in read) return ctx.addIssue({ code: 'custom', message: read.problem });
    try {
      createPrivateKey(read.text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a PEM private key: ${(err as Error).message}` });
    }
  });

/** Fields of a client listener's TLS, spread into a service's schema (SWITCHYARD_TLS_CERT_FILE, _KEY_FILE). */
export const clientTlsFields = {
  tlsCertFile: certFile
    .optional()
    .describe(
      'Path of the PEM certificate chain of the client listener; with SWITCHYARD_TLS_KEY_FILE the listener speaks TLS only (ALPN h2 and http/1.1). Read at start: rotate by restarting.',
    ),
  tlsKeyFile: keyFile.optional().describe('Path of the PEM private key of SWITCHYARD_TLS_CERT_FILE.'),
} as const;

/** Fields of a worker callback listener's TLS (SWITCHYARD_CALLBACK_TLS_CERT_FILE, _KEY_FILE; W1). */
export const callbackTlsFields = {
  callbackTlsCertFile: certFile
    .optional()
    .describe(
      'Path of the PEM certificate chain of the worker callback listener (W1); with SWITCHYARD_CALLBACK_TLS_KEY_FILE workers dial https:// and check it against their SWITCHYARD_CALLBACK_TLS_CA_FILE. Read at start: rotate by restarting.',
    ),
  callbackTlsKeyFile: keyFile.optional().describe('Path of the PEM private key of SWITCHYARD_CALLBACK_TLS_CERT_FILE.'),
} as const;

/** Field of a worker's trust in callback listeners (SWITCHYARD_CALLBACK_TLS_CA_FILE; W1, W4). */
export const callbackTlsCaFields = {
  callbackTlsCaFile: certFile
    .optional()
    .describe(
      "Path of the PEM CA bundle https:// callback listeners' certificates are checked against (their name must be the callback URI's host, which the allow-list checks). Unset: the system roots.",
    ),
} as const;

/** Reads an optional PEM file given by a checked field. @throws the read error. */
export function readTlsFile(path: string | undefined): Buffer | undefined {
  return path ? readFileSync(path) : undefined;
}

/** A certificate/key pair as read for `tls.createServer` / `http2.createSecureServer`. */
export interface TlsFilePair {
  /** PEM certificate chain. */
  cert: Buffer;
  /** PEM private key. */
  key: Buffer;
}

/**
 * Checks that each pair is set by both halves or neither, and that the key is the certificate's.
 * Chain as `.superRefine((v, ctx) => refineTlsPairs(v, ctx, [['tlsCertFile', 'tlsKeyFile']]), NATS_REFINE_WHEN)`
 * style on a schema; problems are reported on the field to fix.
 * @param value the object being validated (fields may be missing or invalid).
 * @param pairs [certField, keyField] names, e.g. `['callbackTlsCertFile', 'callbackTlsKeyFile']`.
 */
export function refineTlsPairs(
  value: unknown,
  ctx: z.RefinementCtx,
  pairs: readonly (readonly [string, string])[],
): void {
  if (typeof value !== 'object' || value === null) return;
  const record = value as Record<string, unknown>;
  const set = (key: string) => typeof record[key] === 'string' && record[key] !== '';
  for (const [certKey, keyKey] of pairs) {
    if (set(certKey) !== set(keyKey)) {
      const missing = set(certKey) ? keyKey : certKey;
      ctx.addIssue({ code: 'custom', path: [missing], message: `required with ${set(certKey) ? certKey : keyKey}` });
      continue;
    }
    if (!set(certKey)) continue;
    try {
      const cert = new X509Certificate(readFileSync(record[certKey] as string));
      const key = createPrivateKey(readFileSync(record[keyKey] as string));
      if (!cert.checkPrivateKey(key))
        ctx.addIssue({ code: 'custom', path: [keyKey], message: `is not the private key of ${certKey}` });
    } catch {
      // Unreadable or not PEM: already reported by the field itself.
    }
  }
}

/** Options of `.superRefine(...)` so the pair rules run even when other fields failed. */
export const TLS_REFINE_WHEN = {
  when: (payload: { value: unknown }) => typeof payload.value === 'object' && payload.value !== null,
};

/**
 * Reads a configured pair for a server, or undefined when neither file is set.
 * @throws the read error (the config check has already seen the files, so only a race ends here).
 */
export function readTlsPair(certFile: string | undefined, keyFile: string | undefined): TlsFilePair | undefined {
  if (!certFile || !keyFile) return undefined;
  return { cert: readFileSync(certFile), key: readFileSync(keyFile) };
}
