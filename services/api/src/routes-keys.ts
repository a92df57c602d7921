// API keys: POST/GET/DELETE /v1/keys. The key string is in the 201 answer and nowhere else: the
// store keeps only its sha256, and listings never show the hash.

import type { ApiKeyRecord, ControlStore } from '@switchyard/control-store';
import { SwitchyardError } from '@switchyard/protocol';
import type { FastifyInstance } from 'fastify';
import { accountQuery, createKeyBody, keyParams } from './route-schemas.ts';
import { DEFAULT_ACCOUNT_ID } from './routes-functions.ts';

/** An API key record as listings show it: everything but the hash. */
export type ApiKeyView = Omit<ApiKeyRecord, 'hash'>;

interface CreateKeyBody {
  accountId?: string;
  functions?: string[] | '*';
  description?: string;
}

function viewOf(record: ApiKeyRecord): ApiKeyView {
  const { hash: _hash, ...view } = record;
  return view;
}

/** Registers the API key routes on `app`. */
export function registerKeyRoutes(app: FastifyInstance, store: ControlStore): void {
  app.post<{ Body: CreateKeyBody }>(
    '/v1/keys',
    {
      schema: { body: createKeyBody },
      // Every field is optional, so an empty POST creates an all-functions key of the default account.
      preValidation: async (req) => {
        req.body ??= {};
      },
    },
    async (req, reply) => {
      const accountId = req.body.accountId ?? DEFAULT_ACCOUNT_ID;
      const functions = req.body.functions ?? '*';
      if (functions !== '*') {
        // A key scoped to functions that do not exist (or belong to another account) is a mistake.
        const unknown = functions.filter((id) => store.getFunction(id)?.accountId !== accountId);
        if (unknown.length > 0)
          throw new SwitchyardError('SY_FUNCTION_NOT_FOUND', {
            detail: `no function ${unknown.join(', ')} in account ${accountId}`,
          });
      }
      const { key, record } = await store.createApiKey({
        accountId,
        functions,
        ...(req.body.description !== undefined ? { description: req.body.description } : {}),
      });
      req.log.info({ keyId: record.keyId, accountId }, 'API key created');
      return reply.code(201).send({ ...viewOf(record), key });
    },
  );

  app.get<{ Querystring: { accountId?: string } }>(
    '/v1/keys',
    { schema: { querystring: accountQuery } },
    async (req) => ({
      keys: store.listApiKeys(req.query.accountId).map(viewOf),
    }),
  );

  app.delete<{ Params: { keyId: string } }>(
    '/v1/keys/:keyId',
    { schema: { params: keyParams } },
    async (req, reply) => {
      await store.revokeApiKey(req.params.keyId);
      req.log.info({ keyId: req.params.keyId }, 'API key revoked');
      return reply.code(204).send();
    },
  );
}
