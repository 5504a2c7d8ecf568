/**
 * The OpenAI Chat Completions façade: `GET /v1/models` and `POST /v1/chat/completions`, so the
 * official SDKs (and anything built on them) talk to the agent unchanged. The agent runs its tool
 * loop server-side; its tool steps ride along in extra fields (`agent_tool_calls`, `agent_event`)
 * that clients which don't know them ignore. Errors take OpenAI's shape (see openai-errors.ts).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Agent } from '../../agent/agent.js';
import type { Usage } from '../../agent/events.js';
import type { ChatMessage } from '../../agent/messages.js';
import { ApiError } from '../errors.js';
import { OpenAiErrorResponse, openAiErrorHandler } from '../openai-errors.js';
import { SessionId } from '../schemas.js';
import { SSE_HEADERS, SseStream } from '../sse-stream.js';
import type { Turn, TurnRunner } from '../turn-runner.js';
import { collectTurn } from '../collect-turn.js';
import { hangUpSignal } from '../hang-up.js';

const TextPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const Content = z.union([z.string(), z.array(TextPart)]).describe('A string, or an array of text parts (other part types are not supported)');

const Message = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: Content.nullish(),
});

export const ChatCompletionRequest = z
  .object({
    model: z.string().describe('Required, but any value is accepted: the service serves one agent (see GET /v1/models)'),
    messages: z.array(Message).min(1).describe('The conversation; the last message must be the new user message'),
    stream: z.boolean().nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
    session_id: SessionId.nullish().describe('Continue a stored session (also the X-Session-Id header); the earlier messages are then ignored'),
  })
  .superRefine((body, ctx) => {
    const i = body.messages.length - 1;
    const last = body.messages[i];
    if (!last) return;
    if (last.role !== 'user') ctx.addIssue({ code: 'custom', path: ['messages', i, 'role'], message: "The last message must have role 'user'" });
    else if (textOf(last.content).trim() === '') ctx.addIssue({ code: 'custom', path: ['messages', i, 'content'], message: 'The last user message must have text content' });
  });

type ChatCompletionBody = z.output<typeof ChatCompletionRequest>;

const ModelList = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() })),
});

const openAiErrors = { 400: OpenAiErrorResponse, 401: OpenAiErrorResponse, 404: OpenAiErrorResponse, 409: OpenAiErrorResponse, 413: OpenAiErrorResponse, 415: OpenAiErrorResponse, 429: OpenAiErrorResponse, 500: OpenAiErrorResponse, 502: OpenAiErrorResponse, 503: OpenAiErrorResponse, 504: OpenAiErrorResponse };

function textOf(content: z.output<typeof Content> | null | undefined): string {
  if (content == null) return '';
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}

/** The request's earlier user/assistant text messages; system, tool and text-less messages are dropped. */
function historyOf(messages: ChatCompletionBody['messages']): ChatMessage[] {
  const history: ChatMessage[] = [];
  for (const m of messages.slice(0, -1)) {
    const content = textOf(m.content);
    if ((m.role === 'user' || m.role === 'assistant') && content !== '') history.push({ role: m.role, content });
  }
  return history;
}

const openAiUsage = (u: Usage) => ({ prompt_tokens: u.input_tokens, completion_tokens: u.output_tokens, total_tokens: u.total_tokens });

export const openAiRoutes: FastifyPluginAsyncZod<{ agent: Agent; turns: TurnRunner; heartbeatMs: number }> = async (app, { agent, turns, heartbeatMs }) => {
  // Encapsulated: errors of these routes (the global auth and rate-limit hooks' included) take OpenAI's shape.
  app.setErrorHandler(openAiErrorHandler);
  const started = Math.floor(Date.now() / 1000);

  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible: list models (the one agent)',
        description: 'Authenticate with `Authorization: Bearer <key>` or `X-API-Key`.',
        response: { 200: ModelList, ...openAiErrors },
      },
    },
    async () => ({ object: 'list' as const, data: [{ id: agent.name, object: 'model' as const, created: started, owned_by: 'agent-api' }] }),
  );

  app.post(
    '/v1/chat/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible Chat Completions (the agent, tool loop included)',
        description:
          'The OpenAI Chat Completions API backed by the agent. `messages` is the conversation: system/developer messages are ignored ' +
          '(the agent has its own instructions), earlier user/assistant text messages become history and the last (user) message is the new ' +
          'one; nothing is stored. With `X-Session-Id` (or `session_id`), the stored session supplies the history instead and the turn is ' +
          'stored. Unknown OpenAI parameters (temperature, tools, …) are accepted and ignored. The reply adds `agent_tool_calls` (and ' +
          '`session_id`); a stream (`stream: true`) carries tool steps as `agent_event` on chunks with an empty delta.',
        body: ChatCompletionRequest,
        produces: ['application/json', 'text/event-stream'],
        // No 200 schema: the body is JSON or a stream depending on `stream`.
        response: openAiErrors,
      },
    },
    async (request, reply) => {
      const { body } = request;
      const header = request.headers['x-session-id'];
      let sessionId = body.session_id ?? undefined;
      if (header !== undefined) {
        const parsed = SessionId.safeParse(header);
        if (!parsed.success) {
          throw new ApiError('validation_error', 'Invalid request: headers.x-session-id: at most 128 of A-Za-z0-9._:-', [
            { field: 'x-session-id', message: 'at most 128 of A-Za-z0-9._:-' },
          ]);
        }
        sessionId = parsed.data;
      }
      const last = body.messages[body.messages.length - 1];
      const message = textOf(last?.content);
      const turn: Turn = sessionId
        ? await turns.begin({ owner: request.owner, message, sessionId, log: request.log })
        : turns.beginEphemeral({ message, history: historyOf(body.messages), log: request.log });
      if (sessionId) void reply.header('x-session-id', sessionId);

      const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);
      const model = body.model;
      const hungUp = hangUpSignal(reply);
      const events = turn.events(hungUp);

      if (body.stream !== true) {
        const done = await collectTurn(events, hungUp);
        // 499 (client closed request) only labels the log line; nobody receives this response.
        if (!done) return reply.status(499 as never).send();
        const { end, toolCalls } = done;
        return reply.send({
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: end.reply }, logprobs: null, finish_reason: 'stop' }],
          usage: openAiUsage(end.usage),
          agent_tool_calls: toolCalls,
          ...(sessionId ? { session_id: sessionId } : {}),
        } as never);
      }

      const sse = new SseStream(heartbeatMs);
      const data = (payload: unknown) => sse.data(payload);
      const chunk = (delta: object, finishReason: 'stop' | null = null, extra: object = {}) =>
        data({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...extra });
      const includeUsage = body.stream_options?.include_usage === true;

      // Pump in the background: the handler must return so Fastify sends headers and pipes the body.
      void (async () => {
        let failed = false;
        try {
          for await (const event of events) {
            switch (event.type) {
              case 'start':
                chunk({ role: 'assistant', content: '' }, null, sessionId ? { session_id: sessionId } : {});
                break;
              case 'token':
                chunk({ content: event.content });
                break;
              case 'tool_call':
              case 'tool_result':
                chunk({}, null, { agent_event: event });
                break;
              case 'error':
                failed = true;
                data({ error: { message: event.message, type: 'server_error', code: event.code, param: null } });
                break;
              case 'end':
                if (failed) break;
                chunk({}, 'stop');
                if (includeUsage) data({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: openAiUsage(event.usage) });
                break;
            }
          }
        } catch (err) {
          request.log.error({ err }, 'stream failed');
          if (!failed) data({ error: { message: 'Internal server error', type: 'server_error', code: 'internal_error', param: null } });
        } finally {
          sse.done();
          sse.end();
        }
      })();
      return reply.headers(SSE_HEADERS).send(sse.body as never);
    },
  );
};
