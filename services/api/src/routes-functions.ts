// Functions and versions: POST/GET/DELETE /v1/functions[...]. Reads come from the ControlStore's
// watched copy; writes go through KV and resolve once this process sees them.

import type { ControlStore, FunctionRecord, VersionRecord } from '@switchyard/control-store';
import { SwitchyardError } from '@switchyard/protocol';
import type { FastifyInstance } from 'fastify';
import { accountQuery, createFunctionBody, emptyBody, functionParams, versionParams } from './route-schemas.ts';

/** Account of records created without `accountId`. */
export const DEFAULT_ACCOUNT_ID = 'default';

/** A function as the API shows it: its record plus every version, oldest first. */
export type FunctionView = FunctionRecord & { versions: VersionRecord[] };

interface CreateFunctionBody {
  name: string;
  kind: 'grpc' | 'http';
  accountId?: string;
  inferenceUrl?: string;
  reconnectWindowMs?: number;
  /** Where new sessions may be served when this region has no capacity (issue 4). @default 'local-only' */
  spillPolicy?: 'local-only' | 'spill-over';
}

function viewOf(store: ControlStore, fn: FunctionRecord): FunctionView {
  return { ...fn, versions: store.versionsOf(fn.functionId) };
}

function requireFunction(store: ControlStore, functionId: string): FunctionRecord {
  const fn = store.getFunction(functionId);
  if (fn === undefined) throw new SwitchyardError('SY_FUNCTION_NOT_FOUND', { detail: `function ${functionId}` });
  return fn;
}

/** Registers the function and version routes on `app`. */
export function registerFunctionRoutes(app: FastifyInstance, store: ControlStore): void {
  app.post<{ Body: CreateFunctionBody }>(
    '/v1/functions',
    { schema: { body: createFunctionBody } },
    async (req, reply) => {
      const body = req.body;
      const { fn, version } = await store.createFunction({
        accountId: body.accountId ?? DEFAULT_ACCOUNT_ID,
        name: body.name,
        kind: body.kind,
        ...(body.inferenceUrl !== undefined ? { inferenceUrl: body.inferenceUrl } : {}),
        ...(body.reconnectWindowMs !== undefined ? { reconnectWindowMs: body.reconnectWindowMs } : {}),
        ...(body.spillPolicy !== undefined ? { spillPolicy: body.spillPolicy } : {}),
      });
      req.log.info({ functionId: fn.functionId, versionId: version.versionId, name: fn.name }, 'function created');
      return reply.code(201).send({ ...viewOf(store, fn), versionId: version.versionId });
    },
  );

  app.get<{ Querystring: { accountId?: string } }>(
    '/v1/functions',
    { schema: { querystring: accountQuery } },
    async (req) => ({ functions: store.listFunctions(req.query.accountId).map((fn) => viewOf(store, fn)) }),
  );

  app.get<{ Params: { functionId: string } }>(
    '/v1/functions/:functionId',
    { schema: { params: functionParams } },
    async (req) => viewOf(store, requireFunction(store, req.params.functionId)),
  );

  app.delete<{ Params: { functionId: string } }>(
    '/v1/functions/:functionId',
    { schema: { params: functionParams } },
    async (req, reply) => {
      await store.deleteFunction(req.params.functionId);
      req.log.info({ functionId: req.params.functionId }, 'function deleted');
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { functionId: string } }>(
    '/v1/functions/:functionId/versions',
    {
      schema: { params: functionParams, body: emptyBody },
      // No body is the usual way to call this route.
      preValidation: async (req) => {
        req.body ??= {};
      },
    },
    async (req, reply) => {
      const version = await store.createVersion(requireFunction(store, req.params.functionId).functionId);
      req.log.info({ functionId: version.functionId, versionId: version.versionId }, 'version created');
      return reply.code(201).send(version);
    },
  );

  app.delete<{ Params: { functionId: string; versionId: string } }>(
    '/v1/functions/:functionId/versions/:versionId',
    { schema: { params: versionParams } },
    async (req, reply) => {
      const { functionId, versionId } = req.params;
      requireFunction(store, functionId);
      const version = store.getVersion(versionId);
      if (version === undefined || version.functionId !== functionId)
        throw new SwitchyardError('SY_VERSION_NOT_FOUND', { detail: `version ${versionId} of function ${functionId}` });
      await store.deleteVersion(versionId);
      req.log.info({ functionId, versionId }, 'version deleted');
      return reply.code(204).send();
    },
  );
}
