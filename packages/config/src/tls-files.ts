// TLS fields of the listeners every service opens (issue 8, "TLS everywhere a byte leaves the host"):
// a client listener (SWITCHYARD_TLS_CERT_FILE / _KEY_FILE) and a worker callback listener
// (SWITCHYARD_CALLBACK_TLS_CERT_FILE / _KEY_FILE). Files are read and checked when the config loads,
// so a missing or unreadable file, a file that is not PEM, half a pair or a key that is not the
// certificate's are ConfigError problems listed with every other one. No hot reload: a rotated
// certificate is picked up by a (rolling) restart, docs/tls.md.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** Checks a file's text: returns the problem, or undefined when the content is what it should be. */
export type FileCheck = (text: string, path: string) => string | undefined;

/**
 * A config field naming a readable file whose content passes `check`: an unreadable file (its errno
 * code) or a failed check is a problem on that field, listed with every other one at start. The one
 * definition behind every file field (listener TLS here, NATS credentials and TLS in nats-connect).
 */
export function fileField(check: FileCheck) {
  return z
    .string()
    .min(1)
    .superRefine((path, ctx) => {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        });
        return;
      }
      const problem = check(text, path);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    });
}

/** {@link FileCheck} of a PEM certificate (chain). */
export const checkCertificate: FileCheck = (text) => {
  try {
    new X509Certificate(text);
    return undefined;
  } catch (err) {
    return `not a PEM certificate: ${(err as Error).message}`;
  }
};

/** {@link FileCheck} of an unencrypted PEM private key. */
export const checkPrivateKey: FileCheck = (text) => {
  try {
    createPrivateKey(text);
    return undefined;
  } catch (err) {
    return `not a PEM private key: ${(err as Error).message}`;
  }
};

/**
 * Whether the key file holds the private key of the certificate file; undefined when either cannot be
 * read or parsed (their own fields report that).
 */
export function isKeyOfCertificate(certPath: string, keyPath: string): boolean | undefined {
  try {
    return new X509Certificate(readFileSync(certPath)).checkPrivateKey(createPrivateKey(readFileSync(keyPath)));
  } catch {
    return undefined;
  }
}

/** A readable PEM certificate (chain) file. */
const certFile = fileField(checkCertificate);

/** A readable PEM private key file (unencrypted). */
const keyFile = fileField(checkPrivateKey);

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
    if (isKeyOfCertificate(record[certKey] as string, record[keyKey] as string) === false)
      ctx.addIssue({ code: 'custom', path: [keyKey], message: `is not the private key of ${certKey}` });
  }
}

/** Options of `.superRefine(...)` so cross-field rules (TLS pairs, NATS credentials) run even when other fields failed. */
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
