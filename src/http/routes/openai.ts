/**
 * The OpenAI Chat Completions façade: `GET /v1/models` and `POST /v1/chat/completions`, so the
 * official SDKs (and anything built on them) talk to the agent unchanged. The agent runs its tool
 * loop server-side; its tool steps ride along in extra fields (`agent_tool_calls`, `agent_event`)
 * that clients which don't know them ignore. Errors take OpenAI's shape (see openai-errors.ts).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AgentSet } from '../../agent/agent-set.js';
import type { FinishReason, StreamEvent, Usage } from '../../core/events.js';
import type { ChatMessage } from '../../core/messages.js';
import { collectTurn } from '../collect-turn.js';
import { ApiError } from '../errors.js';
import { hangUpSignal } from '../hang-up-signal.js';
import { OpenAiErrorBody, openAiErrorHandler } from '../openai-errors.js';
import { MAX_MESSAGE_CHARS, SessionId, ToolCallRecord } from '../schemas.js';
import { answerHungUp, sendEventStream, type EventEncoder } from '../send-event-stream.js';
import type { SseStream } from '../sse-stream.js';
import type { RunService } from '../../runs/run-service.js';

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
    else if (textOf(last.content).trim() === '')
      ctx.addIssue({ code: 'custom', path: ['messages', i, 'content'], message: 'The last user message must have text content' });
    else if (textOf(last.content).length > MAX_MESSAGE_CHARS)
      ctx.addIssue({ code: 'custom', path: ['messages', i, 'content'], message: `The last user message is over ${MAX_MESSAGE_CHARS} characters` });
  });

type ChatCompletionBody = z.output<typeof ChatCompletionRequest>;

const ModelList = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() })),
});

const OpenAiUsage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });

const ChatCompletion = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(
    z.object({
      index: z.number().int(),
      message: z.object({ role: z.literal('assistant'), content: z.string() }),
      logprobs: z.null(),
      finish_reason: z.enum(['stop', 'length', 'tool_calls', 'content_filter']),
    }),
  ),
  usage: OpenAiUsage,
  agent_tool_calls: z.array(ToolCallRecord).describe("The agent's own tool steps in this turn (an extension; clients that don't know it ignore it)"),
  session_id: z.string().optional(),
});

const openAiErrors = {
  400: OpenAiErrorBody,
  401: OpenAiErrorBody,
  404: OpenAiErrorBody,
  409: OpenAiErrorBody,
  413: OpenAiErrorBody,
  415: OpenAiErrorBody,
  429: OpenAiErrorBody,
  500: OpenAiErrorBody,
  502: OpenAiErrorBody,
  503: OpenAiErrorBody,
  504: OpenAiErrorBody,
};

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

const openAiUsage = (u: Usage): z.output<typeof OpenAiUsage> => ({
  prompt_tokens: u.input_tokens,
  completion_tokens: u.output_tokens,
  total_tokens: u.total_tokens,
});

type OpenAiFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** OpenAI's names; our step limit cutting the tool loop short reads as `length` (the answer is incomplete). */
function openAiFinishReason(reason: FinishReason): OpenAiFinishReason {
  return reason === 'max_steps' ? 'length' : reason === 'error' ? 'stop' : reason;
}

interface ChunkContext {
  id: string;
  created: number;
  model: string;
  sessionId: string | undefined;
  includeUsage: boolean;
}

/** Our events as `chat.completion.chunk`s; the agent's tool steps ride on empty deltas as `agent_event`. */
class CompletionChunkEncoder implements EventEncoder {
  private failed = false;

  constructor(private readonly c: ChunkContext) {}

  write(event: StreamEvent, sse: SseStream): void {
    switch (event.type) {
      case 'start':
        this.chunk(sse, { role: 'assistant', content: '' }, null, this.c.sessionId ? { session_id: this.c.sessionId } : {});
        break;
      case 'token':
        this.chunk(sse, { content: event.content });
        break;
      case 'tool_call':
      case 'tool_result':
        this.chunk(sse, {}, null, { agent_event: event });
        break;
      case 'step_start':
      case 'step_finish':
      case 'tool_call_delta':
        // The agent's own loop: a Chat Completions client sees its whole tool steps only.
        break;
      case 'error':
        this.failed = true;
        sse.data({ error: { message: event.message, type: 'server_error', code: event.code, param: null } });
        break;
      case 'end':
        if (this.failed) break;
        this.chunk(sse, {}, openAiFinishReason(event.finish_reason));
        if (this.c.includeUsage) sse.data({ ...this.envelope(), choices: [], usage: openAiUsage(event.usage) });
        break;
    }
  }

  close(sse: SseStream): void {
    sse.done();
  }

  private envelope() {
    return { id: this.c.id, object: 'chat.completion.chunk', created: this.c.created, model: this.c.model };
  }

  private chunk(sse: SseStream, delta: object, finishReason: OpenAiFinishReason | null = null, extra: object = {}): void {
    sse.data({ ...this.envelope(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }], ...extra });
  }
}

export const openAiRoutes: FastifyPluginAsyncZod<{ agents: AgentSet; runs: RunService; heartbeatMs: number }> = async (app, { agents, runs, heartbeatMs }) => {
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
    async () => ({ object: 'list' as const, data: agents.names.map((id) => ({ id, object: 'model' as const, created: started, owned_by: 'agent-api' })) }),
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
        // The JSON reply; with `stream: true` the body is a stream, which is never serialised.
        response: { 200: ChatCompletion, ...openAiErrors },
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
      const hungUp = hangUpSignal(reply);
      const run = await runs.start({
        owner: request.owner,
        message,
        log: request.log,
        signal: hungUp,
        ...(sessionId ? { sessionId } : { history: historyOf(body.messages) }),
      });
      if (sessionId) void reply.header('x-session-id', sessionId);

      const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);
      const model = body.model;
      const events = run.follow(0, hungUp);

      if (body.stream === true) {
        const encoder = new CompletionChunkEncoder({ id, created, model, sessionId, includeUsage: body.stream_options?.include_usage === true });
        return sendEventStream(reply, events, { encoder, heartbeatMs, hungUp, log: request.log });
      }
      const done = await collectTurn(events, hungUp);
      if (!done) return answerHungUp(reply);
      await run.done;
      const { end, toolCalls } = done;
      return {
        id,
        object: 'chat.completion' as const,
        created,
        model,
        choices: [
          { index: 0, message: { role: 'assistant' as const, content: end.reply }, logprobs: null, finish_reason: openAiFinishReason(end.finish_reason) },
        ],
        usage: openAiUsage(end.usage),
        agent_tool_calls: toolCalls,
        ...(sessionId ? { session_id: sessionId } : {}),
      };
    },
  );
};
