// Test certificates made with the system `openssl`: one CA, and leaf certificates signed by it for
// servers (route and gateway connections present them as clients too) and for clients (mutual TLS).

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';

/** PEM files of one leaf certificate. */
export interface TlsPair {
  /** Path of the PEM certificate. */
  cert: string;
  /** Path of its PEM private key (EC P-256, unencrypted). */
  key: string;
}

/** What {@link writeTestCertificates} wrote. */
export interface TestCertificates {
  /** Path of the CA certificate (PEM) every leaf is signed by. */
  ca: string;
  /** One pair per name asked for, keyed by that name. */
  leaves: Record<string, TlsPair>;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString('utf8') ?? '';
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new TestkitError(
      missing ? TestkitErrorCode.binaryMissing : TestkitErrorCode.invalidState,
      missing ? 'openssl is not on PATH (apt-get install openssl)' : `openssl ${args[0]} failed: ${stderr.trim()}`,
      { cause: err },
    );
  }
}

/**
 * Writes a CA and one leaf certificate per name into `dir` with `openssl` (valid 2 days, EC P-256).
 * Every leaf has the SANs `localhost` and `127.0.0.1` and both the serverAuth and clientAuth key
 * usages, so one leaf serves a nats-server's client, route and gateway ports, and a leaf given to a
 * client works for mutual TLS.
 * @param dir existing directory (e.g. a test's temp dir).
 * @param names leaf names (file names `<name>.pem`, `<name>-key.pem`; CN is the name).
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING` without openssl, `TESTKIT_INVALID_STATE` when it fails.
 */
export function writeTestCertificates(dir: string, names: readonly string[]): TestCertificates {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca-key.pem',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=switchyard-test-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'leaf.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  );
  const leaves: Record<string, TlsPair> = {};
  for (const name of names) {
    openssl(['req', ...ec, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        'leaf.ext',
        '-out',
        `${name}.pem`,
      ],
      dir,
    );
    leaves[name] = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  }
  return { ca: join(dir, 'ca.pem'), leaves };
}
