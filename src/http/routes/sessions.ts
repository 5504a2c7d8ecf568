import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import type { RunService } from '../../runs/run-service.js';
import { runJson } from '../../runs/run-json.js';
import { runCursor } from '../../store/run-store.js';
import { sessionCursor } from '../../store/session-cursor.js';
import type { Store } from '../../store/store.js';
import { ApiError } from '../errors.js';
import { authErrors, ErrorBody, GetSessionQuery, ListSessionsQuery, RunPage, SessionDetail, SessionPage, SessionParams } from '../schemas.js';

const ListRunsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.string().max(300).optional().describe('Cursor from next_before'),
});

/** How long DELETE holds the session's run slot: enough for the delete itself. */
const DELETE_CLAIM_MS = 30_000;

export const sessionRoutes: FastifyPluginAsyncZod<{ store: Store; runs: RunService }> = async (app, { store, runs }) => {
  app.get(
    '/sessions',
    {
      schema: {
        tags: ['sessions'],
        summary: "The caller's sessions, most recently active first",
        querystring: ListSessionsQuery,
        response: { 200: SessionPage, 400: ErrorBody, ...authErrors },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const sessions = await store.listSessions(request.owner, { limit, before });
      const last = sessions.at(-1);
      return { sessions, next_before: sessions.length === limit && last ? sessionCursor(last) : null };
    },
  );

  app.get(
    '/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'A session and its messages, tool calls and results included',
        params: SessionParams,
        querystring: GetSessionQuery,
        response: { 200: SessionDetail, 400: ErrorBody, 404: ErrorBody, ...authErrors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const session = await store.getSession(id, request.owner);
      if (!session) throw new ApiError('session_not_found', `No session '${id}'`);
      const { limit, after } = request.query;
      const rows = await store.listMessages(id, request.owner, { limit, ...(after === undefined ? {} : { after }) });
      const last = rows.at(-1);
      return {
        ...session,
        messages: rows.map((r) => ({ seq: r.seq, created_at: r.created_at, ...r.message })),
        next_after: rows.length === limit && last ? last.seq : null,
      };
    },
  );

  app.delete(
    '/sessions/:id',
    {
      schema: {
        tags: ['sessions'],
        summary: 'Delete a session and all its messages',
        params: SessionParams,
        response: { 204: z.null().describe('Deleted'), 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, ...authErrors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await store.getSession(id, request.owner))) throw new ApiError('session_not_found', `No session '${id}'`);
      // A running turn would go on writing under this id, even into the new session a later message
      // opens with it; holding the run slot while deleting keeps one from starting meanwhile.
      const token = `delete_${randomUUID()}`;
      if (!(await store.claimSession(id, request.owner, token, Date.now() + DELETE_CLAIM_MS))) {
        const claim = await store.sessionClaim(id, request.owner);
        throw new ApiError('session_busy', undefined, { active_run_id: claim?.token ?? null }, { 'retry-after': '1' });
      }
      if (!(await store.deleteSession(id, request.owner))) throw new ApiError('session_not_found', `No session '${id}'`);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/sessions/:id/runs',
    {
      schema: {
        tags: ['sessions', 'runs'],
        summary: "A session's runs, newest first",
        params: SessionParams,
        querystring: ListRunsQuery,
        response: { 200: RunPage, 400: ErrorBody, 404: ErrorBody, ...authErrors },
      },
    },
    async (request) => {
      const { limit, before } = request.query;
      const page = await runs.list(request.params.id, request.owner, { limit, before });
      const last = page.at(-1);
      return { runs: page.map(runJson), next_before: page.length === limit && last ? runCursor(last) : null };
    },
  );
};
