import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import { serializerCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { StreamEvent } from '../../core/events.js';
import type { RunRequest, RunService } from '../../runs/run-service.js';
import { collectTurn } from '../collect-turn.js';
import { hangUpSignal } from '../hang-up-signal.js';
import { authErrors, ChatReply, ChatRequest, ErrorBody } from '../schemas.js';
import { answerHungUp, sendEventStream, type EventEncoder } from '../send-event-stream.js';

/** Our own protocol: every event as it is, numbered with its place in the run's log. */
export const nativeEncoder: EventEncoder = { write: (_event, sse, entry) => sse.send(entry) };

function runRequest(owner: string, body: ChatRequest, hungUp: AbortSignal, log: RunRequest['log']): RunRequest {
  return {
    owner,
    agent: body.agent,
    message: body.message,
    sessionId: body.session_id ?? undefined,
    log,
    ...(body.on_disconnect === 'cancel' ? { signal: hungUp } : {}),
  };
}

const chatErrors = {
  400: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  413: ErrorBody,
  415: ErrorBody,
  502: ErrorBody,
  503: ErrorBody,
  504: ErrorBody,
  ...authErrors,
};

/**
 * The 200 reply is built field by field just above it (nothing to strip, nothing unchecked), so it
 * is written as it is: checking it against its zod schema again was a few percent of a turn's CPU.
 * Error bodies keep the schema's check.
 */
const chatSerializer: FastifySerializerCompiler<unknown> = (route) =>
  route.httpStatus === '200' ? (data) => JSON.stringify(data) : serializerCompiler(route as never);

export const chatRoutes: FastifyPluginAsyncZod<{ runs: RunService; heartbeatMs: number }> = async (app, { runs, heartbeatMs }) => {
  app.post(
    '/chat',
    {
      schema: {
        tags: ['chat'],
        summary: 'Send a message and get the whole reply',
        description:
          'Runs the agent (tool loop included) and answers when it has finished. Omit `session_id` to start a new session. ' +
          '`agent` picks one of the agents served (GET /v1/models); a session keeps the agent it started with. ' +
          'The turn is a run (`run_id`): with `on_disconnect: "continue"` it goes on if the client hangs up.',
        body: ChatRequest,
        response: { 200: ChatReply, ...chatErrors },
      },
      serializerCompiler: chatSerializer,
    },
    async (request, reply) => {
      const hungUp = hangUpSignal(reply);
      const run = await runs.start(runRequest(request.owner, request.body, hungUp, request.log));
      const done = await collectTurn(run.follow(0, hungUp), hungUp);
      if (!done) return answerHungUp(reply);
      // The reply goes out once the run's record is final, so GET /runs/{id} agrees with it.
      await run.done;
      const { end, toolCalls } = done;
      const body: ChatReply = {
        reply: end.reply,
        session_id: end.session_id,
        run_id: run.id,
        tool_calls: toolCalls,
        usage: end.usage,
        finish_reason: end.finish_reason,
      };
      return body;
    },
  );

  app.post(
    '/chat/stream',
    {
      schema: {
        tags: ['chat'],
        summary: 'Send a message and stream the reply as Server-Sent Events',
        description:
          'Answers `text/event-stream`. Each event is an `id:` line (its number in the run, from 1) and one `data:` line holding ' +
          'JSON with a `type`: `start` {session_id, run_id}, `token` {content}, `tool_call` {id, name, arguments}, `tool_result` ' +
          '{id, name, result}, `error` {code, message}, `end` {session_id, reply, usage}. `end` is always last. While the agent is ' +
          'silent a `: keep-alive` comment is sent. A dropped stream resumes at `GET /runs/{run_id}/events` with `Last-Event-ID` ' +
          '(send `on_disconnect: "continue"` so the run outlives the connection). Errors found before the stream starts ' +
          '(401, 400, 404, 409, 503) are plain JSON.',
        body: ChatRequest,
        produces: ['text/event-stream'],
        // Documents the JSON of each `data:` line; the body itself is a stream and never serialised.
        response: { 200: StreamEvent, ...chatErrors },
      },
    },
    async (request, reply) => {
      const hungUp = hangUpSignal(reply);
      const run = await runs.start(runRequest(request.owner, request.body, hungUp, request.log));
      return sendEventStream(reply, run.follow(0, hungUp), { encoder: nativeEncoder, heartbeatMs, hungUp, log: request.log });
    },
  );
};
