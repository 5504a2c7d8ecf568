/**
 * `POST /v1/ui/chat`: the AI SDK v6 UI message stream protocol, so `useChat` with a
 * `DefaultChatTransport` pointed here works unchanged. The chat `id` is our session id: history
 * comes from the store (the client's `messages` only supply the new user message, or none for a
 * regenerate), and sessions
 * stay per API key. `GET /v1/ui/chat/{id}/stream` is where `useChat({ resume: true })` reconnects
 * (`DefaultChatTransport.reconnectToStream`), and `POST /v1/ui/chat/{id}/stop` ends the reply.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { hangUpSignal } from '../hang-up-signal.js';
import { authErrors, ErrorBody, SessionId } from '../schemas.js';
import { sendEventStream } from '../send-event-stream.js';
import { RunError } from '../../runs/run-error.js';
import type { RunService } from '../../runs/run-service.js';
import { UIChatRequest, uiTurn } from './ui-chat-request.js';
import { UIChunkMapper } from './ui-chunk-mapper.js';

const UI_STREAM_HEADERS = { 'x-vercel-ai-ui-message-stream': 'v1' };

/** RunService names its `regenerate` option in errors; here the client asked for it with `trigger`. */
function regenerateAsTrigger(err: unknown): unknown {
  if (!(err instanceof RunError && err.code === 'validation_error' && Array.isArray(err.details))) return err;
  const details = (err.details as Array<{ field?: unknown }>).map((d) => (d.field === 'regenerate' ? { ...d, field: 'trigger' } : d));
  return new RunError(err.code, err.message.replace('regenerate:', 'trigger:'), details);
}

const uiChatErrors = { 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 503: ErrorBody, ...authErrors };

const UIChatParams = z.object({ id: SessionId.describe('The chat id (useChat `id`): the session id') });
const StoppedRun = z.object({ run_id: z.string().describe('The run that was answering, now cancelled') });

/**
 * Does `use` with the run answering in the session now; null when there is none. `RunService.start`
 * claims the session a moment before it records the run, so a run not found yet is looked for again.
 */
async function withActiveRun<T>(runs: RunService, sessionId: string, owner: string, use: (runId: string) => Promise<T>): Promise<T | null> {
  for (let attempt = 1; ; attempt++) {
    const runId = await runs.activeRun(sessionId, owner);
    if (runId === null) return null;
    try {
      return await use(runId);
    } catch (err) {
      if (!(err instanceof RunError && err.code === 'run_not_found')) throw err;
      if (attempt >= 10) return null; // the claim never became a run (its start failed)
      await delay(20);
    }
  }
}

export const uiChatRoutes: FastifyPluginAsyncZod<{ runs: RunService; heartbeatMs: number }> = async (app, { runs, heartbeatMs }) => {
  app.post(
    '/v1/ui/chat',
    {
      schema: {
        tags: ['chat'],
        summary: 'AI SDK UI message stream (useChat / DefaultChatTransport)',
        description:
          'Speaks the AI SDK v6 UI message stream protocol (`x-vercel-ai-ui-message-stream: v1`): the body is what ' +
          '`DefaultChatTransport` sends (`id`, `messages`, `trigger`, …), plus an optional `agent`. The chat `id` is the ' +
          'session id: history comes from the store and only the last user message is taken, its `text` parts joined and ' +
          'its `file` parts (data: or http(s) `url`, `mediaType`) sent to the model as images (`image/*`) or files; an agent ' +
          'that does not take them answers 400 naming the part (`messages.N.parts.M`). `trigger: "regenerate-message"` ' +
          '(`regenerate()`) answers the stored last user message again: the answer after it is kept marked `superseded` and ' +
          'no longer shown to the model, and nothing is stored twice. The answer is SSE `data:` lines, one UI ' +
          'message chunk each (`start` with the run id as `messageId`, `start-step`, `text-start`/`text-delta`/`text-end`, ' +
          '`tool-input-start`/`tool-input-delta`/`tool-input-available`, `tool-output-available`, `finish-step`, `error`, ' +
          '`finish` with its `finishReason`), then `data: [DONE]`. `start` and `finish` carry `messageMetadata` ' +
          '(`{run_id, session_id}`, and on `finish` also `usage` {input_tokens, output_tokens, total_tokens} and ' +
          '`finish_reason`). The turn is a run that outlives the connection (`on_disconnect: "continue"`; the ' +
          'AI SDK sends no such choice): a page that reloads mid-reply picks it up again at `GET /v1/ui/chat/{id}/stream` ' +
          "(`useChat({ resume: true })`), and `POST /v1/ui/chat/{id}/stop` cancels it (useChat's `stop()` only hangs up). " +
          'Errors found before the stream starts (401, 400, 404, 409, 503) are plain JSON.',
        body: UIChatRequest,
        produces: ['text/event-stream'],
        response: uiChatErrors,
      },
    },
    async (request, reply) => {
      const { id, agent } = request.body;
      const hungUp = hangUpSignal(reply);
      // No `signal`: hanging up ends this response only, so the reply can be resumed; stop cancels it.
      const run = await runs.start({ owner: request.owner, agent, ...uiTurn(request.body), sessionId: id, log: request.log }).catch((err: unknown) => {
        throw regenerateAsTrigger(err);
      });
      return sendEventStream(reply, run.follow(0, hungUp), {
        encoder: new UIChunkMapper(run.id),
        heartbeatMs,
        hungUp,
        log: request.log,
        headers: UI_STREAM_HEADERS,
      });
    },
  );

  app.get(
    '/v1/ui/chat/:id/stream',
    {
      schema: {
        tags: ['chat'],
        summary: 'Resume the reply in progress (useChat resume / reconnectToStream)',
        description:
          'Where `DefaultChatTransport.reconnectToStream()` reconnects (`${api}/${chatId}/stream`, GET). `204` with no ' +
          "body when no run is answering in the chat; otherwise the run's UI message stream, as `POST /v1/ui/chat` sends " +
          'it, replayed from its start (the SDK resets the message on the replayed `start`) and then live until it ends, ' +
          "then `data: [DONE]`. Hanging up ends only this stream. An unknown chat (or another key's) has no reply in progress: `204`.",
        params: UIChatParams,
        produces: ['text/event-stream'],
        response: { 204: z.null().describe('No reply in progress'), 400: ErrorBody, ...authErrors },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const hungUp = hangUpSignal(reply);
      // A chat with no session yet (useChat with a fresh id resumes on load) has no reply in progress
      // either; another key's chat looks the same, so nothing tells whether that id exists.
      const active = await withActiveRun(runs, id, request.owner, async (runId) => ({
        runId,
        events: await runs.follow(runId, request.owner, 0, hungUp),
      })).catch((err: unknown) => {
        if (err instanceof RunError && err.code === 'session_not_found') return null;
        throw err;
      });
      if (!active) return reply.status(204).send(null);
      return sendEventStream(reply, active.events, {
        encoder: new UIChunkMapper(active.runId),
        heartbeatMs,
        hungUp,
        log: request.log,
        headers: UI_STREAM_HEADERS,
      });
    },
  );

  app.post(
    '/v1/ui/chat/:id/stop',
    {
      schema: {
        tags: ['chat'],
        summary: 'Stop the reply in progress',
        description:
          'Cancels the run answering in the chat, wherever it runs (as `POST /runs/{run_id}/cancel`): the partial reply is ' +
          'kept marked interrupted, and every stream of it gets an `error` chunk then `finish`. `202` with the run id; ' +
          "`204` when nothing was answering. Another key's chat, or an unknown one, is `404`.",
        params: UIChatParams,
        response: { 202: StoppedRun, 204: z.null().describe('Nothing was answering'), 400: ErrorBody, 404: ErrorBody, ...authErrors },
      },
    },
    async (request, reply) => {
      const { owner } = request;
      const stopped = await withActiveRun(runs, request.params.id, owner, async (runId) => ((await runs.cancel(runId, owner)).ended ? null : runId));
      if (stopped === null) return reply.status(204).send(null);
      return reply.status(202).send({ run_id: stopped });
    },
  );
};
