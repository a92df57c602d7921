// The NATS user of one function version's workers, for infra/nats/production/users.conf. Static
// config cannot template the version into a subject, so each version gets its own user with exactly
// its ticket consumer, its `worker.<versionId>.>` requests and its own inbox (infra/nats/README.md).

import { nkeys } from '@nats-io/nats-core';
import { assertToken, NatsNames } from '@switchyard/protocol';

function isPublicUserKey(key: string): boolean {
  if (!key.startsWith('U')) return false;
  try {
    nkeys.fromPublic(key);
    return true;
  } catch {
    return false;
  }
}

/** A new nkey user pair: the public key (for users.conf) and the seed (SWITCHYARD_NATS_NKEY_SEED). */
export function createUserNkey(): { publicKey: string; seed: string } {
  const pair = nkeys.createUser();
  return { publicKey: pair.getPublicKey(), seed: new TextDecoder().decode(pair.getSeed()) };
}

/** Control buckets every worker reads (watched copy), by their names in the code. */
const CONTROL_BUCKETS = [NatsNames.functionsBucket, NatsNames.versionsBucket, NatsNames.apiKeysBucket] as const;

/** What {@link renderWorkerNatsUser} needs. */
export interface WorkerNatsUserInput {
  /** Function version whose workers authenticate as this user (a NATS token, normally a UUID). */
  versionId: string;
  /** Regions the version's workers run in: their ticket streams and session buckets. */
  regions: readonly string[];
  /** Public nkey of the user (`U...`); its seed goes to the workers (SWITCHYARD_NATS_NKEY_SEED). */
  nkey: string;
}

/** Inbox prefix of a version's workers (SWITCHYARD_NATS_INBOX_PREFIX): `_INBOX_worker_<versionId>`. */
export function workerInboxPrefix(versionId: string): string {
  return `_INBOX_worker_${assertToken('versionId', versionId)}`;
}

/**
 * The subjects a worker of `versionId` may publish to and subscribe to, from what the worker does
 * (ticket-queue, session-directory, control-store, region-health, worker-link):
 * - per region r: its ticket stream TICKETS_r (info; create when missing), the durable consumer
 *   `workers_<versionId>` only (info, create with its own filter `rq.r.<versionId>.*` spelled in the
 *   subject so no other filter can be set, pull, ack); its session bucket `sessions_r` (create when
 *   missing, read, write, watch); its heartbeat `health.r.worker.<id>`;
 * - the control buckets, read only;
 * - `proxy.*.attach` and `proxy.*.session-ended` (front-end instance IDs are not known in advance);
 * - subscribe `worker.<versionId>.>` (reconnect, evict) and its own inbox; replies by allow_responses.
 * @throws TypeError when the version or a region is not a NATS token.
 */
export function workerNatsPermissions(input: Omit<WorkerNatsUserInput, 'nkey'>): {
  publish: string[];
  subscribe: string[];
} {
  const v = assertToken('versionId', input.versionId);
  const consumer = NatsNames.ticketConsumer(v);
  const publish = ['$JS.API.INFO'];
  for (const region of input.regions) {
    const stream = NatsNames.ticketStream(region);
    const bucket = `KV_${NatsNames.sessionBucket(region)}`;
    publish.push(
      `$JS.API.STREAM.INFO.${stream}`,
      `$JS.API.STREAM.CREATE.${stream}`,
      `$JS.API.CONSUMER.INFO.${stream}.${consumer}`,
      `$JS.API.CONSUMER.CREATE.${stream}.${consumer}.${NatsNames.ticketFilter(region, v)}`,
      `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`,
      `$JS.ACK.${stream}.${consumer}.>`,
      `$JS.API.STREAM.INFO.${bucket}`,
      `$JS.API.STREAM.CREATE.${bucket}`,
      `$JS.API.STREAM.MSG.GET.${bucket}`,
      `$JS.API.CONSUMER.CREATE.${bucket}.>`,
      `$JS.API.CONSUMER.DELETE.${bucket}.>`,
      `$JS.FC.${bucket}.>`,
      `$KV.${NatsNames.sessionBucket(region)}.>`,
      `health.${region}.worker.*`,
    );
  }
  for (const name of CONTROL_BUCKETS) {
    const bucket = `KV_${name}`;
    publish.push(
      `$JS.API.STREAM.INFO.${bucket}`,
      `$JS.API.CONSUMER.CREATE.${bucket}.>`,
      `$JS.API.CONSUMER.DELETE.${bucket}.>`,
      `$JS.API.DIRECT.GET.${bucket}.>`,
      `$JS.API.STREAM.MSG.GET.${bucket}`,
      `$JS.FC.${bucket}.>`,
    );
  }
  publish.push('proxy.*.attach', 'proxy.*.session-ended');
  return { publish, subscribe: [NatsNames.workerVersionWildcard(v), `${workerInboxPrefix(v)}.>`] };
}

/**
 * The user block to add to the `SWITCHYARD_USERS` list of users.conf: the nkey, a comment naming the
 * version and its inbox prefix, and {@link workerNatsPermissions} with `allow_responses` (answers
 * reconnect and evict requests).
 * @throws TypeError when the nkey is not a public user nkey, or the version or a region is not a token.
 */
export function renderWorkerNatsUser(input: WorkerNatsUserInput): string {
  if (!isPublicUserKey(input.nkey))
    throw new TypeError(`nkey must be a public user nkey (U...), got ${JSON.stringify(input.nkey)}`);
  if (input.regions.length === 0) throw new TypeError('at least one region is required');
  const { publish, subscribe } = workerNatsPermissions(input);
  const list = (items: string[], indent: string) => items.map((s) => `${indent}"${s}"`).join('\n');
  return `  # worker of function version ${input.versionId} in ${input.regions.join(', ')}
  # (SWITCHYARD_NATS_INBOX_PREFIX=${workerInboxPrefix(input.versionId)})
  {
    nkey: ${input.nkey}
    permissions: {
      publish: {
        allow: [
${list(publish, '          ')}
        ]
      }
      subscribe: {
        allow: [
${list(subscribe, '          ')}
        ]
      }
      allow_responses: true
    }
  }
`;
}
