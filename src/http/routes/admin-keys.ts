import { createHash, randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiKeyRecord, KeyStore } from '../../store/key-store.js';
import { generateApiKey } from '../api-keys.js';
import { ApiError } from '../errors.js';
import { authErrors, ErrorBody } from '../schemas.js';
import { CreatedKey, CreateKeyRequest, KeyList, KeyParams, ManagedKey, UpdateKeyRequest } from '../usage-schemas.js';
import type { KeyChanges } from '../../store/key-store.js';

/** What a client sees of a key: everything but its hash. */
function shown({ key_hash: _hash, ...key }: ApiKeyRecord): ManagedKey {
  return { object: 'api_key', ...key };
}

const adminErrors = { 403: ErrorBody, ...authErrors } as const;

/** `/admin/keys`: managed keys, for the ADMIN_API_KEY only. */
export const adminKeyRoutes: FastifyPluginAsyncZod<{ store: KeyStore; enabled: boolean }> = async (app, { store, enabled }) => {
  // Authentication (the global hook) has run by now, so a missing or unknown key is a 401 first.
  app.addHook('preHandler', async (request) => {
    if (!enabled) throw new ApiError('admin_disabled');
    if (!request.admin) throw new ApiError('forbidden', 'This route needs the admin key (ADMIN_API_KEY)');
  });

  app.post(
    '/admin/keys',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a managed key; the response is the only time the key is shown',
        body: CreateKeyRequest,
        response: { 201: CreatedKey, 400: ErrorBody, ...adminErrors },
      },
    },
    async (request, reply) => {
      const { name, rate_limit_per_minute = null, token_budget = null } = request.body;
      const key = generateApiKey();
      const created = await store.createKey({
        id: `key_${randomUUID().replaceAll('-', '')}`,
        name,
        key_hash: createHash('sha256').update(key, 'utf8').digest('hex'),
        created_at: new Date().toISOString(),
        rate_limit_per_minute,
        token_budget,
      });
      request.log.info({ keyId: created.id, name }, 'managed key created');
      return reply.status(201).send({ ...shown(created), key });
    },
  );

  app.get(
    '/admin/keys',
    { schema: { tags: ['admin'], summary: 'Every managed key, oldest first (never the keys themselves)', response: { 200: KeyList, ...adminErrors } } },
    async () => ({ object: 'list' as const, data: (await store.listKeys()).map(shown) }),
  );

  app.get(
    '/admin/keys/:id',
    {
      schema: { tags: ['admin'], summary: 'One managed key', params: KeyParams, response: { 200: ManagedKey, 400: ErrorBody, 404: ErrorBody, ...adminErrors } },
    },
    async (request) => {
      const key = await store.getKey(request.params.id);
      if (!key) throw new ApiError('key_not_found', `No key '${request.params.id}'`);
      return shown(key);
    },
  );

  app.patch(
    '/admin/keys/:id',
    {
      schema: {
        tags: ['admin'],
        summary: "Change a key's name, rate limit or token budget (null clears a limit); it holds from the next request on",
        params: KeyParams,
        body: UpdateKeyRequest,
        response: { 200: ManagedKey, 400: ErrorBody, 404: ErrorBody, ...adminErrors },
      },
    },
    async (request) => {
      const changes: KeyChanges = {};
      // `undefined` (left out) keeps a field; null clears a limit.
      for (const field of ['name', 'rate_limit_per_minute', 'token_budget'] as const) {
        const value = request.body[field];
        if (value !== undefined) Object.assign(changes, { [field]: value });
      }
      const key = await store.updateKey(request.params.id, changes);
      if (!key) throw new ApiError('key_not_found', `No key '${request.params.id}'`);
      request.log.info({ keyId: key.id, changes: Object.keys(changes) }, 'managed key changed');
      return shown(key);
    },
  );

  app.delete(
    '/admin/keys/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Revoke a key: refused from the next request on, on every worker and replica',
        params: KeyParams,
        response: { 200: ManagedKey.describe('The revoked key'), 400: ErrorBody, 404: ErrorBody, ...adminErrors },
      },
    },
    async (request) => {
      const key = await store.revokeKey(request.params.id, new Date().toISOString());
      if (!key) throw new ApiError('key_not_found', `No key '${request.params.id}'`);
      request.log.info({ keyId: key.id }, 'managed key revoked');
      return shown(key);
    },
  );
};
