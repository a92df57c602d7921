// The NATS connection fields every service's config schema carries (credentials, TLS, inbox prefix),
// and their checks at start: a file that cannot be read or is not what it should be, and a pair given
// by half, are config problems listed with every other one (SWITCHYARD_NATS_*).

import { credsAuthenticator, nkeyAuthenticator } from '@nats-io/nats-core';
import {
  checkCertificate,
  checkPrivateKey,
  type FileCheck,
  fileField,
  isKeyOfCertificate,
  TLS_REFINE_WHEN,
} from '@switchyard/config';
import { z } from 'zod';

/** nats.js's own inbox prefix, used when `natsInboxPrefix` is not set. */
export const DEFAULT_NATS_INBOX_PREFIX = '_INBOX';

/** One or more subject tokens separated by dots, no wildcards: what nats.js accepts as an inbox prefix. */
const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Runs a nats.js authenticator once over a made-up nonce: it throws when the JWT or seed is unusable. */
function signs(authenticate: (nonce?: string) => unknown): string | undefined {
  try {
    authenticate('c3dpdGNoeWFyZA');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

const checkCreds: FileCheck = (text) => {
  if (!/-----BEGIN NATS USER JWT-----/.test(text) || !/-----BEGIN USER NKEY SEED-----/.test(text))
    return 'not a NATS creds file (a user JWT and an nkey seed, as `nsc generate creds` writes them)';
  const problem = signs(credsAuthenticator(new TextEncoder().encode(text)));
  return problem === undefined ? undefined : `not a usable NATS creds file: ${problem}`;
};

const checkSeed: FileCheck = (text) => {
  const seed = text.trim();
  if (!/^SU[A-Z2-7]{56}$/.test(seed))
    return 'not an nkey user seed (one line starting with SU, as `nk -gen user` writes)';
  const problem = signs(nkeyAuthenticator(new TextEncoder().encode(seed)));
  return problem === undefined ? undefined : `not a usable nkey seed: ${problem}`;
};

/**
 * Fields of the NATS connection, spread into every service's `z.object({...})` (their environment
 * variables are `SWITCHYARD_NATS_*`; docs/configuration.md lists them per service). Files are read
 * and checked when the config loads, and read again by nats.js at every (re)connect, so a rotated
 * creds file or certificate is picked up without a restart of the service. Chain
 * {@link refineNatsConnection} on the object for the pair rules.
 */
export const natsConnectionFields = {
  natsCreds: fileField(checkCreds)
    .optional()
    .describe(
      'Path of a NATS creds file (user JWT and nkey seed, as `nsc generate creds` writes); read again at every reconnect. Not with SWITCHYARD_NATS_USER or _NKEY_SEED.',
    ),
  natsUser: z
    .string()
    .min(1)
    .optional()
    .describe(
      'NATS user name (infra/nats/production/accounts.conf); needs SWITCHYARD_NATS_PASSWORD. Not with _CREDS or _NKEY_SEED.',
    ),
  natsPassword: z
    .string()
    .min(1)
    .optional()
    .describe('Password of SWITCHYARD_NATS_USER (plain text; the server holds its bcrypt hash).'),
  natsNkeySeed: fileField(checkSeed)
    .optional()
    .describe(
      'Path of a file holding an nkey user seed (SU...); the connection authenticates as that nkey. Not with _CREDS or _USER.',
    ),
  natsTlsCa: fileField(checkCertificate)
    .optional()
    .describe(
      "Path of the PEM CA bundle the NATS servers' certificates are checked against; when set (or _TLS_CERT is), the connection requires TLS.",
    ),
  natsTlsCert: fileField(checkCertificate)
    .optional()
    .describe(
      'Path of a PEM client certificate, for NATS servers that verify clients (mutual TLS); needs SWITCHYARD_NATS_TLS_KEY.',
    ),
  natsTlsKey: fileField(checkPrivateKey)
    .optional()
    .describe('Path of the PEM private key of SWITCHYARD_NATS_TLS_CERT.'),
  natsInboxPrefix: z
    .string()
    .regex(SUBJECT_PREFIX, 'must be subject tokens separated by dots, without wildcards (e.g. _INBOX_worker)')
    .default(DEFAULT_NATS_INBOX_PREFIX)
    .describe(
      "Prefix of this connection's reply subjects (nats.js inboxPrefix): in production `_INBOX_<user>`, the only inbox the NATS user may subscribe to (infra/nats/README.md).",
    ),
} as const;

/** Replica counts JetStream accepts for a stream (an odd number up to 5, for a Raft majority). */
export const NATS_REPLICA_COUNTS = [1, 3, 5] as const;

/**
 * The replicas field of every service that creates JetStream buckets or streams (issue 11, item 6):
 * control buckets (api), session buckets (api, grpc-proxy, worker), ticket streams (grpc-proxy,
 * invocation, worker). Spread into a service's config schema.
 */
export const natsReplicasFields = {
  natsReplicas: z
    .number()
    .int()
    .refine((n) => (NATS_REPLICA_COUNTS as readonly number[]).includes(n), 'must be 1, 3 or 5')
    .default(1)
    .describe(
      "Replicas of every JetStream bucket and stream this service creates (control and session buckets, ticket streams): 3 in production (one per server of the region's NATS cluster), 1 for a single server. More than the cluster has stops the service at start with SY_NATS_REPLICAS_EXCEED_CLUSTER. An existing bucket keeps its replicas.",
    ),
} as const;

/** The NATS part of a loaded config: servers and the fields of {@link natsConnectionFields}. */
export interface NatsConnectionConfig {
  /** NATS server URLs (`nats://` or `tls://host:port`). */
  readonly natsServers: readonly string[];
  /** Path of a creds file (user JWT + nkey seed). */
  readonly natsCreds?: string;
  /** User name, with {@link natsPassword}. */
  readonly natsUser?: string;
  /** Password of {@link natsUser}. */
  readonly natsPassword?: string;
  /** Path of a file holding an nkey user seed. */
  readonly natsNkeySeed?: string;
  /** Path of the PEM CA bundle that signs the servers' certificates. */
  readonly natsTlsCa?: string;
  /** Path of the PEM client certificate (mutual TLS), with {@link natsTlsKey}. */
  readonly natsTlsCert?: string;
  /** Path of the PEM private key of {@link natsTlsCert}. */
  readonly natsTlsKey?: string;
  /** Inbox prefix of the connection (nats.js `inboxPrefix`). */
  readonly natsInboxPrefix: string;
}

type NatsFieldsInput = Partial<Record<keyof typeof natsConnectionFields, unknown>>;

/**
 * The pair rules of {@link natsConnectionFields}, for `.superRefine(refineNatsConnection,
 * NATS_REFINE_WHEN)` on a service's schema: natsUser and natsPassword together; natsTlsCert and
 * natsTlsKey together (and the key must be the certificate's); one way of authenticating at most
 * (creds, user/password or nkey seed).
 */
export function refineNatsConnection(value: NatsFieldsInput, ctx: z.RefinementCtx): void {
  const set = (key: keyof NatsFieldsInput) => typeof value[key] === 'string' && value[key] !== '';
  if (set('natsUser') && !set('natsPassword'))
    ctx.addIssue({ code: 'custom', path: ['natsPassword'], message: 'required when SWITCHYARD_NATS_USER is set' });
  if (set('natsPassword') && !set('natsUser'))
    ctx.addIssue({ code: 'custom', path: ['natsUser'], message: 'required when SWITCHYARD_NATS_PASSWORD is set' });
  if (set('natsTlsCert') && !set('natsTlsKey'))
    ctx.addIssue({ code: 'custom', path: ['natsTlsKey'], message: 'required when SWITCHYARD_NATS_TLS_CERT is set' });
  if (set('natsTlsKey') && !set('natsTlsCert'))
    ctx.addIssue({ code: 'custom', path: ['natsTlsCert'], message: 'required when SWITCHYARD_NATS_TLS_KEY is set' });
  const ways = (['natsCreds', 'natsUser', 'natsNkeySeed'] as const).filter(set);
  if (ways.length > 1)
    ctx.addIssue({
      code: 'custom',
      path: [ways[1]],
      message: `set one way to authenticate to NATS: SWITCHYARD_NATS_CREDS, SWITCHYARD_NATS_USER/_PASSWORD or SWITCHYARD_NATS_NKEY_SEED (got ${ways.length})`,
    });
  if (
    set('natsTlsCert') &&
    set('natsTlsKey') &&
    isKeyOfCertificate(String(value.natsTlsCert), String(value.natsTlsKey)) === false
  )
    ctx.addIssue({
      code: 'custom',
      path: ['natsTlsKey'],
      message: 'is not the private key of SWITCHYARD_NATS_TLS_CERT',
    });
}

/**
 * Options of `.superRefine(refineNatsConnection, NATS_REFINE_WHEN)`: run the pair rules even when
 * other fields failed, so every problem is reported at once.
 */
export const NATS_REFINE_WHEN = TLS_REFINE_WHEN;
