/**
 * The OpenAI Chat Completions façade: `GET /v1/models`, `GET /v1/models/{id}` (the agents) and
 * `POST /v1/chat/completions`, so the official SDKs (and anything built on them) talk to the agents
 * unchanged. The agent runs its own tool loop server-side; its tool steps ride along in extra fields
 * (`agent_tool_calls`, `agent_event`) that clients which don't know them ignore. The request's
 * `tools` are the client's: their calls come back as `tool_calls` for the client to run. Errors
 * take OpenAI's shape (see openai-errors.ts).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AgentSet } from '../../agent/agent-set.js';
import type { FinishReason, StreamEvent, Usage } from '../../core/events.js';
import { collectTurn } from '../collect-turn.js';
import { ApiError } from '../errors.js';
import { hangUpSignal } from '../hang-up-signal.js';
import { OpenAiErrorBody, openAiErrorHandler } from '../openai-errors.js';
import { openAiChatInput, refuseAttachments } from '../openai-chat-input.js';
import { ChatCompletionRequest } from '../openai-chat-request.js';
import { SessionId, ToolCallRecord } from '../schemas.js';
import { answerHungUp, sendEventStream, type EventEncoder } from '../send-event-stream.js';
import type { SseStream } from '../sse-stream.js';
import type { SeqEvent } from '../../runs/live-log.js';
import type { RunService } from '../../runs/run-service.js';

export { ChatCompletionRequest };

const Model = z.object({ id: z.string(), object: z.literal('model'), created: z.number().int(), owned_by: z.string() });
const ModelList = z.object({ object: z.literal('list'), data: z.array(Model) });

const ClientToolCall = z.object({
  id: z.string(),
  type: z.literal('function'),
  function: z.object({ name: z.string(), arguments: z.string().describe('JSON') }),
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
      message: z.object({
        role: z.literal('assistant'),
        content: z.string().nullable().describe('null when the model only called client tools'),
        tool_calls: z.array(ClientToolCall).optional().describe("Calls of the request's tools, for the client to run (finish_reason tool_calls)"),
      }),
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

/** Tool call arguments as OpenAI sends them: a JSON string (kept as is when the model's text was not JSON). */
function argumentsText(args: unknown): string {
  return typeof args === 'string' ? args : JSON.stringify(args ?? {});
}

/** Passes the events through, noting the tool calls and which got a result. */
async function* noting(events: AsyncIterable<SeqEvent>, calls: Map<string, { name: string; arguments: unknown }>, answered: Set<string>) {
  for await (const e of events) {
    if (e.event.type === 'tool_call') calls.set(e.event.id, { name: e.event.name, arguments: e.event.arguments });
    else if (e.event.type === 'tool_result') answered.add(e.event.id);
    yield e;
  }
}

interface ChunkContext {
  id: string;
  created: number;
  model: string;
  sessionId: string | undefined;
  includeUsage: boolean;
  /** The request's tools: their calls stream as `delta.tool_calls`, for the client to run. */
  clientTools: ReadonlySet<string>;
}

/**
 * Our events as `chat.completion.chunk`s. Calls of the client's tools stream as `delta.tool_calls`
 * (id, name, then the arguments as the model writes them); the agent's own tool steps ride on
 * empty deltas as `agent_event`.
 */
class CompletionChunkEncoder implements EventEncoder {
  private failed = false;
  /** Client tool calls streamed so far, by id: their index in `tool_calls`. */
  private readonly clientCalls = new Map<string, number>();

  constructor(private readonly c: ChunkContext) {}

  write(event: StreamEvent, sse: SseStream): void {
    switch (event.type) {
      case 'start':
        this.chunk(sse, { role: 'assistant', content: '' }, null, this.c.sessionId ? { session_id: this.c.sessionId } : {});
        break;
      case 'token':
        this.chunk(sse, { content: event.content });
        break;
      case 'tool_call_delta':
        // The agent's own calls show whole (agent_event); only the client's stream as they are written.
        if (this.c.clientTools.has(event.name)) this.clientCall(sse, event.id, event.name, event.arguments_delta);
        break;
      case 'tool_call':
        if (!this.c.clientTools.has(event.name)) this.chunk(sse, {}, null, { agent_event: event });
        // Arguments that came whole, without deltas.
        else if (!this.clientCalls.has(event.id)) this.clientCall(sse, event.id, event.name, argumentsText(event.arguments));
        break;
      case 'tool_result':
        this.chunk(sse, {}, null, { agent_event: event });
        break;
      case 'step_start':
      case 'step_finish':
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

  private clientCall(sse: SseStream, id: string, name: string, args: string): void {
    const index = this.clientCalls.get(id);
    if (index !== undefined) {
      if (args !== '') this.chunk(sse, { tool_calls: [{ index, function: { arguments: args } }] });
      return;
    }
    const next = this.clientCalls.size;
    this.clientCalls.set(id, next);
    this.chunk(sse, { tool_calls: [{ index: next, id, type: 'function', function: { name, arguments: args } }] });
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

  const modelOf = (id: string) => ({ id, object: 'model' as const, created: started, owned_by: 'agent-api' });

  app.get(
    '/v1/models',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible: list models (the agents served here)',
        description: 'Authenticate with `Authorization: Bearer <key>` or `X-API-Key`.',
        response: { 200: ModelList, ...openAiErrors },
      },
    },
    async () => ({ object: 'list' as const, data: agents.names.map(modelOf) }),
  );

  app.get(
    '/v1/models/:model',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible: one model (an agent served here)',
        description: 'A 404 `model_not_found` for a name that is not one of GET /v1/models.',
        params: z.object({ model: z.string().min(1) }),
        response: { 200: Model, ...openAiErrors },
      },
    },
    async (request) => {
      const { model } = request.params;
      if (!agents.names.includes(model)) throw new ApiError('model_not_found', `No model '${model}': GET /v1/models lists them (${agents.names.join(', ')})`);
      return modelOf(model);
    },
  );

  app.post(
    '/v1/chat/completions',
    {
      schema: {
        tags: ['openai'],
        summary: 'OpenAI-compatible Chat Completions (the agent, tool loop included)',
        description:
          'The OpenAI Chat Completions API backed by an agent: `model` names it (GET /v1/models). `messages` is the conversation: ' +
          'system/developer messages are ignored (the agent has its own instructions); earlier user (text, images, files), assistant ' +
          '(text, tool_calls) and tool messages become history; the last message is the new user message, or tool messages answering ' +
          "the assistant's tool_calls. Nothing is stored. With `X-Session-Id` (or `session_id`), the stored session supplies the history " +
          'instead and the turn is stored (the trailing tool messages with it). `tools` are client tools, offered to the model beside the ' +
          'agent\'s own: a call of one ends the turn with `finish_reason: "tool_calls"` and `message.tool_calls` (streamed as ' +
          '`delta.tool_calls`). `tool_choice`, `response_format` (json_object, json_schema), temperature, top_p, max_tokens / ' +
          'max_completion_tokens, stop, seed and the penalties reach the model; `n` must be 1. The reply adds `agent_tool_calls`, the ' +
          "agent's own tool steps (and `session_id`); a stream carries those as `agent_event` on chunks with an empty delta.",
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
      const input = openAiChatInput(body);
      const agent = agents.get(body.model);
      // An unknown model is RunService's 404; the new message's images are its 400.
      if (agent && !sessionId) {
        const refused = refuseAttachments(input.historyAttachments, agent.accepts ?? [], agent.name);
        if (refused) throw refused;
      }
      const hungUp = hangUpSignal(reply);
      const run = await runs.start({
        owner: request.owner,
        agent: body.model,
        message: input.message,
        attachments: input.attachments,
        clientTools: input.clientTools,
        settings: input.settings,
        toolChoice: input.toolChoice,
        log: request.log,
        signal: hungUp,
        ...(sessionId ? { sessionId, toolResults: input.toolResults } : { history: input.history }),
      });
      if (sessionId) void reply.header('x-session-id', sessionId);

      const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
      const created = Math.floor(Date.now() / 1000);
      const model = body.model;
      const events = run.follow(0, hungUp);

      if (body.stream === true) {
        const encoder = new CompletionChunkEncoder({
          id,
          created,
          model,
          sessionId,
          includeUsage: body.stream_options?.include_usage === true,
          clientTools: new Set(input.clientTools.map((t) => t.name)),
        });
        return sendEventStream(reply, events, { encoder, heartbeatMs, hungUp, log: request.log });
      }
      const calls = new Map<string, { name: string; arguments: unknown }>();
      const answered = new Set<string>();
      const done = await collectTurn(noting(events, calls, answered), hungUp);
      if (!done) return answerHungUp(reply);
      await run.done;
      const { end, toolCalls } = done;
      // A turn that ends on tool calls waits on the client's: every call without a result is one.
      const pending = end.finish_reason === 'tool_calls' ? [...calls].filter(([callId]) => !answered.has(callId)) : [];
      const toolCallsOut = pending.map(([callId, c]) => ({
        id: callId,
        type: 'function' as const,
        function: { name: c.name, arguments: argumentsText(c.arguments) },
      }));
      return {
        id,
        object: 'chat.completion' as const,
        created,
        model,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant' as const,
              content: end.reply === '' && toolCallsOut.length > 0 ? null : end.reply,
              ...(toolCallsOut.length ? { tool_calls: toolCallsOut } : {}),
            },
            logprobs: null,
            finish_reason: openAiFinishReason(end.finish_reason),
          },
        ],
        usage: openAiUsage(end.usage),
        agent_tool_calls: toolCalls.filter((c) => !pending.some(([callId]) => callId === c.id)),
        ...(sessionId ? { session_id: sessionId } : {}),
      };
    },
  );
};
