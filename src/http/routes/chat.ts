import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { StreamEvent } from '../../core/events.js';
import { collectTurn } from '../collect-turn.js';
import { hangUpSignal } from '../hang-up-signal.js';
import { authErrors, ChatReply, ChatRequest, ErrorBody } from '../schemas.js';
import { answerHungUp, sendEventStream, type EventEncoder } from '../send-event-stream.js';
import type { TurnRequest, TurnRunner } from '../turn-runner.js';

function turnRequest(owner: string, body: ChatRequest, log: TurnRequest['log']): TurnRequest {
  return { owner, message: body.message, sessionId: body.session_id ?? undefined, log };
}

/** Our own protocol: every event as it is, numbered. */
const nativeEncoder: EventEncoder = { write: (event, sse) => sse.send(event) };

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

export const chatRoutes: FastifyPluginAsyncZod<{ turns: TurnRunner; heartbeatMs: number }> = async (app, { turns, heartbeatMs }) => {
  app.post(
    '/chat',
    {
      schema: {
        tags: ['chat'],
        summary: 'Send a message and get the whole reply',
        description: 'Runs the agent (tool loop included) and answers when it has finished. Omit `session_id` to start a new session.',
        body: ChatRequest,
        response: { 200: ChatReply, ...chatErrors },
      },
    },
    async (request, reply) => {
      const turn = await turns.begin(turnRequest(request.owner, request.body, request.log));
      const hungUp = hangUpSignal(reply);
      const done = await collectTurn(turn.events(hungUp), hungUp);
      if (!done) return answerHungUp(reply);
      const { end, toolCalls } = done;
      return { reply: end.reply, session_id: end.session_id, tool_calls: toolCalls, usage: end.usage };
    },
  );

  app.post(
    '/chat/stream',
    {
      schema: {
        tags: ['chat'],
        summary: 'Send a message and stream the reply as Server-Sent Events',
        description:
          'Answers `text/event-stream`. Each event is an `id:` line and one `data:` line holding JSON with a `type`: ' +
          '`start` {session_id}, `token` {content}, `tool_call` {id, name, arguments}, `tool_result` {id, name, result}, ' +
          '`error` {code, message}, `end` {session_id, reply, usage}. `end` is always last. While the agent is silent a ' +
          '`: keep-alive` comment is sent. Errors found before the stream starts (401, 400, 404, 409, 503) are plain JSON.',
        body: ChatRequest,
        produces: ['text/event-stream'],
        // Documents the JSON of each `data:` line; the body itself is a stream and never serialised.
        response: { 200: StreamEvent, ...chatErrors },
      },
    },
    async (request, reply) => {
      const turn = await turns.begin(turnRequest(request.owner, request.body, request.log));
      const hungUp = hangUpSignal(reply);
      return sendEventStream(reply, turn.events(hungUp), { encoder: nativeEncoder, heartbeatMs, hungUp, log: request.log });
    },
  );
};
