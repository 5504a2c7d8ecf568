import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { UsageStore } from '../../store/usage-store.js';
import { ApiError } from '../errors.js';
import { authErrors, ErrorBody } from '../schemas.js';
import { UsageQuery, UsageReport } from '../usage-schemas.js';

const DEFAULT_SPAN_MS = 30 * 24 * 3600_000;

export const usageRoutes: FastifyPluginAsyncZod<{ store: UsageStore }> = async (app, { store }) => {
  app.get(
    '/usage',
    {
      schema: {
        tags: ['usage'],
        summary: "Tokens used by the caller's key (the admin: every key's), by day, session, model, agent or key",
        querystring: UsageQuery,
        response: { 200: UsageReport, 400: ErrorBody, 403: ErrorBody, ...authErrors },
      },
    },
    async (request): Promise<UsageReport> => {
      const q = request.query;
      if (!request.admin) {
        const field = q.key_id !== undefined ? 'key_id' : q.group_by === 'key' ? 'group_by' : undefined;
        if (field)
          throw new ApiError('forbidden', `Only the admin key may use ${field === 'key_id' ? 'key_id' : 'group_by=key'}: other keys see their own usage`);
      }
      const to = q.to ?? Date.now();
      const from = q.from ?? to - DEFAULT_SPAN_MS;
      if (from > to) {
        throw new ApiError('validation_error', 'Invalid request: from: must not be after to', [{ field: 'from', message: 'must not be after to' }]);
      }
      const [fromIso, toIso] = [new Date(from).toISOString(), new Date(to).toISOString()];
      const { rows, total } = await store.usage({
        ...(request.admin ? { keyId: q.key_id } : { owner: request.owner }),
        from: fromIso,
        to: toIso,
        groupBy: q.group_by,
        limit: q.limit + 1,
      });
      const sum = (t: { input_tokens: number; output_tokens: number }) => t.input_tokens + t.output_tokens;
      return {
        object: 'usage',
        from: fromIso,
        to: toIso,
        group_by: q.group_by,
        scope: request.admin ? 'all' : 'key',
        data: rows.slice(0, q.limit).map((r) => ({ ...r, total_tokens: sum(r) })),
        has_more: rows.length > q.limit,
        total: { ...total, total_tokens: sum(total) },
      };
    },
  );
};
