import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { StreamEvent } from '../../core/events.js';
import { Run } from '../../core/runs.js';
import type { RunService } from '../../runs/run-service.js';
import { ApiError } from '../errors.js';
import { hangUpSignal } from '../hang-up-signal.js';
import { authErrors, CreateRunRequest, ErrorBody, RunCreated } from '../schemas.js';
import { sendEventStream } from '../send-event-stream.js';
import { nativeEncoder } from './chat.js';

const RunParams = z.object({ run_id: z.string().min(1).max(128).describe('run_…') });

const EventsQuery = z.object({
  after: z.coerce.number().int().min(0).optional().describe('Send the events numbered above this (as `Last-Event-ID` does)'),
});

/** `Last-Event-ID` as a number, or a 400 naming the header. */
function lastEventId(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value.trim())) {
    throw new ApiError('validation_error', 'Invalid request: headers.last-event-id: must be an event number (a whole number)', [
      { field: 'headers.last-event-id', message: 'must be a whole number' },
    ]);
  }
  return Number(value.trim());
}

export const runRoutes: FastifyPluginAsyncZod<{ runs: RunService; heartbeatMs: number }> = async (app, { runs, heartbeatMs }) => {
  app.post(
    '/runs',
    {
      schema: {
        tags: ['runs'],
        summary: 'Start a run in the background',
        description:
          'Answers at once with the run id; the run goes on without a client. Read its result at `GET /runs/{run_id}`, or follow it at `/runs/{run_id}/events`.',
        body: CreateRunRequest,
        response: { 202: RunCreated, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody, ...authErrors },
      },
    },
    async (request, reply) => {
      const { message, session_id, agent } = request.body;
      const run = await runs.start({ owner: request.owner, agent, message, sessionId: session_id ?? undefined, log: request.log });
      return reply.status(202).send({ run_id: run.id, session_id: run.sessionId ?? '', status: 'running' as const });
    },
  );

  app.get(
    '/runs/:run_id',
    {
      schema: {
        tags: ['runs'],
        summary: 'A run: its status, reply, tool calls, usage and error',
        params: RunParams,
        response: { 200: Run, 400: ErrorBody, 404: ErrorBody, ...authErrors },
      },
    },
    async (request) => runs.get(request.params.run_id, request.owner),
  );

  app.get(
    '/runs/:run_id/events',
    {
      schema: {
        tags: ['runs'],
        summary: "Follow a run's events (Server-Sent Events), resuming after Last-Event-ID",
        description:
          'Sends every event of the run numbered above `Last-Event-ID` (or `?after=N`; from the start without either), then ' +
          'follows the run live until `end`. On a finished run it replays what is kept and closes. Served by any worker or ' +
          "replica, whichever runs the run. A run's events are kept while it runs and for `RUN_EVENTS_TTL_S` after; then `410 run_events_expired`.",
        params: RunParams,
        querystring: EventsQuery,
        produces: ['text/event-stream'],
        response: { 200: StreamEvent, 400: ErrorBody, 404: ErrorBody, 410: ErrorBody, ...authErrors },
      },
    },
    async (request, reply) => {
      const after = lastEventId(request.headers['last-event-id']) ?? request.query.after ?? 0;
      const hungUp = hangUpSignal(reply);
      const events = await runs.follow(request.params.run_id, request.owner, after, hungUp);
      return sendEventStream(reply, events, { encoder: nativeEncoder, heartbeatMs, hungUp, log: request.log });
    },
  );

  app.post(
    '/runs/:run_id/cancel',
    {
      schema: {
        tags: ['runs'],
        summary: 'Cancel a run, wherever it runs',
        description:
          'Stops the run on whichever worker or replica runs it, within a second: the model request is aborted, the partial reply ' +
          'is kept marked interrupted, and followers get `error` (`cancelled`) then `end`. `202` with the run as it was; `200` if it had already ended (idempotent).',
        params: RunParams,
        response: { 200: Run, 202: Run, 400: ErrorBody, 404: ErrorBody, ...authErrors },
      },
    },
    async (request, reply) => {
      const { run, ended } = await runs.cancel(request.params.run_id, request.owner);
      return reply.status(ended ? 200 : 202).send(run);
    },
  );
};
