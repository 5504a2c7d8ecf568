/**
 * `POST /v1/ui/chat`: the AI SDK v6 UI message stream protocol, so `useChat` with a
 * `DefaultChatTransport` pointed here works unchanged. The chat `id` is our session id: history
 * comes from the store (the client's `messages` only supply the new user message), and sessions
 * stay per API key. `GET /v1/ui/chat/{id}/stream` is where `useChat({ resume: true })` reconnects
 * (`DefaultChatTransport.reconnectToStream`), and `POST /v1/ui/chat/{id}/stop` ends the reply.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { UIMessageChunk } from 'ai';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StreamEvent } from '../../core/events.js';
import { hangUpSignal } from '../hang-up-signal.js';
import { authErrors, ErrorBody, MAX_MESSAGE_CHARS, SessionId } from '../schemas.js';
import { sendEventStream, type EventEncoder } from '../send-event-stream.js';
import type { SseStream } from '../sse-stream.js';
import { RunError } from '../../runs/run-error.js';
import type { RunService } from '../../runs/run-service.js';

const UI_STREAM_HEADERS = { 'x-vercel-ai-ui-message-stream': 'v1' };

const UIMessagePart = z.looseObject({ type: z.string(), text: z.unknown().optional() });
const UIMessageSchema = z.looseObject({ id: z.string().optional(), role: z.string(), parts: z.array(UIMessagePart) });

/** The text of the last user message (its `text` parts joined), and where it sits. */
function lastUserText(messages: ReadonlyArray<z.output<typeof UIMessageSchema>>): { index: number; text: string } | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role !== 'user') continue;
    const text = message.parts
      .filter((p) => p.type === 'text' && typeof p.text === 'string')
      .map((p) => p.text as string)
      .join('');
    return { index: i, text };
  }
  return undefined;
}

export const UIChatRequest = z
  .looseObject({
    id: SessionId.describe('The chat id (useChat `id`); it is the session id, so history comes from the store'),
    messages: z.array(UIMessageSchema).describe('UIMessage[] as DefaultChatTransport sends it; only the last user message is used'),
    trigger: z.string().optional(),
    messageId: z.string().optional(),
  })
  .superRefine((body, ctx) => {
    const last = lastUserText(body.messages);
    if (!last) ctx.addIssue({ code: 'custom', path: ['messages'], message: 'must contain a user message' });
    else if (last.text.trim().length === 0)
      ctx.addIssue({ code: 'custom', path: ['messages', last.index, 'parts'], message: 'the last user message has no text' });
    else if (last.text.length > MAX_MESSAGE_CHARS)
      ctx.addIssue({ code: 'custom', path: ['messages', last.index, 'parts'], message: `the last user message is over ${MAX_MESSAGE_CHARS} characters` });
  });

/**
 * Maps our StreamEvents to UI message chunks. Text between other events is one text block. Steps
 * follow `step_start`; a step's tool results come after its `step_finish`, so it closes at the next
 * step or the end. An agent of its own that sends no step events gets steps inferred: one ends when
 * text or a new call follows tool results with none outstanding.
 */
export class UIChunkMapper implements EventEncoder {
  private text: string | undefined; // id of the open text block
  private blocks = 0;
  private stepOpen = false;
  private readonly pending = new Set<string>();
  /** Calls whose arguments are streaming (tool_call_delta): their `tool-input-start` went out. */
  private readonly streaming = new Set<string>();
  private resultsSeen = false;
  private explicitSteps = false;
  private failed = false;
  constructor(private readonly messageId: string = randomUUID()) {}

  write(event: StreamEvent, sse: SseStream): void {
    for (const chunk of this.map(event)) sse.data(chunk);
  }

  close(sse: SseStream): void {
    sse.done();
  }

  map(event: StreamEvent): UIMessageChunk[] {
    const out: UIMessageChunk[] = [];
    switch (event.type) {
      case 'start':
        out.push({ type: 'start', messageId: this.messageId });
        break;
      case 'step_start':
        this.explicitSteps = true;
        this.closeStep(out);
        out.push({ type: 'start-step' });
        this.stepOpen = true;
        break;
      case 'step_finish':
        this.closeText(out);
        break;
      case 'token':
        this.step(out);
        if (this.text === undefined) {
          this.text = `text-${++this.blocks}`;
          out.push({ type: 'text-start', id: this.text });
        }
        out.push({ type: 'text-delta', id: this.text, delta: event.content });
        break;
      case 'tool_call_delta':
        this.step(out);
        this.closeText(out);
        if (!this.streaming.has(event.id)) {
          this.streaming.add(event.id);
          out.push({ type: 'tool-input-start', toolCallId: event.id, toolName: event.name });
        }
        out.push({ type: 'tool-input-delta', toolCallId: event.id, inputTextDelta: event.arguments_delta });
        break;
      case 'tool_call': {
        this.step(out);
        this.closeText(out);
        this.pending.add(event.id);
        const input = event.arguments ?? {};
        if (!this.streaming.delete(event.id)) {
          out.push(
            { type: 'tool-input-start', toolCallId: event.id, toolName: event.name },
            { type: 'tool-input-delta', toolCallId: event.id, inputTextDelta: JSON.stringify(input) },
          );
        }
        out.push({ type: 'tool-input-available', toolCallId: event.id, toolName: event.name, input });
        break;
      }
      case 'tool_result':
        this.closeText(out);
        this.pending.delete(event.id);
        this.resultsSeen = true;
        out.push({ type: 'tool-output-available', toolCallId: event.id, output: event.result });
        break;
      case 'error':
        this.closeStep(out);
        out.push({ type: 'error', errorText: event.message });
        this.failed = true;
        break;
      case 'end':
        this.closeStep(out);
        out.push(this.failed ? { type: 'finish', finishReason: 'error' } : { type: 'finish' });
        break;
    }
    return out;
  }

  private step(out: UIMessageChunk[]): void {
    if (this.explicitSteps) return;
    if (this.stepOpen && this.resultsSeen && this.pending.size === 0) this.closeStep(out);
    if (!this.stepOpen) {
      out.push({ type: 'start-step' });
      this.stepOpen = true;
      this.resultsSeen = false;
    }
  }

  private closeText(out: UIMessageChunk[]): void {
    if (this.text === undefined) return;
    out.push({ type: 'text-end', id: this.text });
    this.text = undefined;
  }

  private closeStep(out: UIMessageChunk[]): void {
    this.closeText(out);
    if (!this.stepOpen) return;
    out.push({ type: 'finish-step' });
    this.stepOpen = false;
  }
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
          '`DefaultChatTransport` sends (`id`, `messages`, `trigger`, …). The chat `id` is the session id: history comes ' +
          'from the store and only the text of the last user message is taken. The answer is SSE `data:` lines, one UI ' +
          'message chunk each (`start` with the run id as `messageId`, `start-step`, `text-start`/`text-delta`/`text-end`, ' +
          '`tool-input-start`/`tool-input-delta`/`tool-input-available`, `tool-output-available`, `finish-step`, `error`, ' +
          '`finish`), then `data: [DONE]`. The turn is a run that outlives the connection (`on_disconnect: "continue"`; the ' +
          'AI SDK sends no such choice): a page that reloads mid-reply picks it up again at `GET /v1/ui/chat/{id}/stream` ' +
          "(`useChat({ resume: true })`), and `POST /v1/ui/chat/{id}/stop` cancels it (useChat's `stop()` only hangs up). " +
          'Errors found before the stream starts (401, 400, 404, 409, 503) are plain JSON.',
        body: UIChatRequest,
        produces: ['text/event-stream'],
        response: uiChatErrors,
      },
    },
    async (request, reply) => {
      const { id, messages } = request.body;
      const message = lastUserText(messages)?.text ?? ''; // validated non-empty above
      const hungUp = hangUpSignal(reply);
      // No `signal`: hanging up ends this response only, so the reply can be resumed; stop cancels it.
      const run = await runs.start({ owner: request.owner, message, sessionId: id, log: request.log });
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
