import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { collectTurn } from '../collect-turn.js';
import { hangUpSignal } from '../hang-up.js';
import { authErrors, ChatRequest, ChatResponse, ErrorResponse } from '../schemas.js';
import { SSE_HEADERS, SseStream } from '../sse-stream.js';
import type { TurnRequest, TurnRunner } from '../turn-runner.js';

function turnRequest(request: FastifyRequest & { body: z.output<typeof ChatRequest> }): TurnRequest {
  return { owner: request.owner, message: request.body.message, sessionId: request.body.session_id ?? undefined, log: request.log };
}

const chatErrors = { 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse, 502: ErrorResponse, 503: ErrorResponse, 504: ErrorResponse, ...authErrors };

export const chatRoutes: FastifyPluginAsyncZod<{ turns: TurnRunner; heartbeatMs: number }> = async (app, { turns, heartbeatMs }) => {
  app.post(
    '/chat',
    {
      schema: {
        tags: ['chat'],
        summary: 'Send a message and get the whole reply',
        description: 'Runs the agent (tool loop included) and answers when it has finished. Omit `session_id` to start a new session.',
        body: ChatRequest,
        response: { 200: ChatResponse, ...chatErrors },
      },
    },
    async (request, reply) => {
      const turn = await turns.begin(turnRequest(request));
      const hungUp = hangUpSignal(reply);
      const done = await collectTurn(turn.events(hungUp), hungUp);
      // 499 (client closed request) only labels the log line; nobody receives this response.
      if (!done) return reply.status(499 as never).send();
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
        // No 200 schema: the body is a stream, which is never serialised.
        response: chatErrors,
      },
    },
    async (request, reply) => {
      const turn = await turns.begin(turnRequest(request));
      const sse = new SseStream(heartbeatMs);
      const events = turn.events(hangUpSignal(reply));
      // Pump in the background: the handler must return so Fastify sends headers and pipes the body.
      void (async () => {
        try {
          for await (const event of events) sse.send(event);
        } catch (err) {
          request.log.error({ err }, 'stream failed');
        } finally {
          sse.end();
        }
      })();
      // The reply is typed by the error schemas alone (a stream has no 200 schema), hence the cast.
      return reply.headers(SSE_HEADERS).send(sse.body as never);
    },
  );
};
