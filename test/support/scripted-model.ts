/**
 * An in-process scripted language model for agent unit tests, built on the AI SDK's own
 * `MockLanguageModelV3`. Each scripted reply answers one model call (one `doStream`, i.e. one
 * step of the tool loop), in order; every call is recorded with its prompt, the tools offered
 * and its abort signal. No HTTP: use `fake-llm.ts` where the provider mapping is under test.
 *
 *   const model = scriptedModel([
 *     { toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }] },
 *     { text: ['It is ', '3.'], usage: { input: 20, output: 4 } },
 *   ]);
 *   const agent = createAgent({ model, tools });
 *   ...
 *   model.calls[1]!.transcript; // ['system: …', 'user: …', 'assistant calls add#c1({"a":1,"b":2})', 'tool add#c1: 3']
 */
import type { JSONValue } from '@ai-sdk/provider';
import { APICallError } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';

type CallOptions = MockLanguageModelV3['doStreamCalls'][number];
type StreamResult = Awaited<ReturnType<MockLanguageModelV3['doStream']>>;
export type StreamPart = StreamResult['stream'] extends ReadableStream<infer P> ? P : never;
export type PromptMessage = CallOptions['prompt'][number];
export type FinishReason = Extract<StreamPart, { type: 'finish' }>['finishReason']['unified'];

export interface ScriptedToolCall {
  /** Defaults to `call_<call index>_<position>`. */
  id?: string;
  name: string;
  /** Sent JSON-encoded; a string is sent as is (so a test can send malformed JSON). */
  arguments: unknown;
  /** The arguments' text as streamed, one `tool-input-delta` each; must join to the text sent. Default: one delta. */
  deltas?: string[];
  /** Set: a tool the provider runs itself (`providerExecuted`); this result streams right after the call. */
  providerResult?: unknown;
}

/**
 * One model call's answer: text (a string is one delta, an array one delta per piece), then tool
 * calls (each as `tool-input-start`, its argument deltas, `tool-input-end`, `tool-call`), then `finish`, or instead of `finish` one of the endings `error`, `reset`, `hang`.
 * `reject` fails the call itself before any part, as a provider does on an HTTP error status.
 */
export interface ScriptedReply {
  text?: string | string[];
  toolCalls?: ScriptedToolCall[];
  /** Reported in `finish`; default `{ input: 10, output: 5 }`. An explicit `undefined` reports no count. */
  usage?: { input?: number | undefined; output?: number | undefined };
  /** Default `tool-calls` when there are tool calls, else `stop`. */
  finishReason?: FinishReason;
  /** Wait before every part after `stream-start` (honours the abort signal). */
  delayMs?: number;
  /** End with an `error` part (a failure reported in the response body). */
  error?: Error;
  /** End by erroring the stream (a dropped connection). */
  reset?: Error;
  /** End with silence: the stream stays open until the call's abort signal fires, then errors with its reason. */
  hang?: true;
  /** `doStream` rejects with this before streaming anything (HTTP error status, refused connection). */
  reject?: Error;
}

export interface ScriptedCall {
  /** 0-based position of the call; the reply it got is `replies[index]`. */
  readonly index: number;
  /** When the call was made (`performance.now()`): the gap between two calls is the backoff. */
  readonly startedAt: number;
  /** The prompt exactly as the SDK handed it to the model. */
  readonly prompt: PromptMessage[];
  /** The system message's text, if any. */
  readonly system: string | undefined;
  /** The prompt as one line per message part, for compact assertions (see `describePrompt`). */
  readonly transcript: string[];
  /** Names of the tools offered, in order. */
  readonly tools: string[];
  readonly options: CallOptions;
  /** Whether the call's abort signal has fired (read live). */
  readonly aborted: boolean;
  readonly abortReason: unknown;
  /** Whether the SDK cancelled the reply stream (read live). */
  readonly cancelled: boolean;
}

const DEFAULT_USAGE = { input: 10, output: 5 };

export class ScriptedModel extends MockLanguageModelV3 {
  readonly calls: ScriptedCall[];
  private readonly replies: readonly ScriptedReply[];
  private readonly waiters: Array<{ count: number; resolve: () => void }>;

  constructor(replies: readonly ScriptedReply[]) {
    replies.forEach(validate);
    const calls: ScriptedCall[] = [];
    const waiters: Array<{ count: number; resolve: () => void }> = [];
    super({
      provider: 'scripted',
      modelId: 'scripted-model',
      doStream: async (options) => {
        const index = calls.length;
        const state = { cancelled: false };
        calls.push(recordCall(index, options, state));
        for (const w of waiters.filter((w) => calls.length >= w.count)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
        const reply = replies[index];
        if (!reply) throw new Error(`scripted-model: call ${index + 1} has no scripted reply (${replies.length} scripted)`);
        if (reply.reject) throw reply.reject;
        return { stream: replyStream(reply, index, options.abortSignal, state) };
      },
    });
    this.calls = calls;
    this.replies = replies;
    this.waiters = waiters;
  }

  /** Scripted replies not yet used. */
  get remaining(): number {
    return Math.max(0, this.replies.length - this.calls.length);
  }

  /** Resolves with call number `count` (1-based) once it has been made. */
  async waitForCall(count: number, timeoutMs = 5000): Promise<ScriptedCall> {
    if (this.calls.length < count) {
      let timer: NodeJS.Timeout | undefined;
      const waiter = { count, resolve: () => {} };
      try {
        await new Promise<void>((resolve, reject) => {
          waiter.resolve = resolve;
          this.waiters.push(waiter);
          timer = setTimeout(() => reject(new Error(`scripted-model: call ${count} not made within ${timeoutMs} ms (${this.calls.length} made)`)), timeoutMs);
        });
      } finally {
        clearTimeout(timer);
        const at = this.waiters.indexOf(waiter);
        if (at >= 0) this.waiters.splice(at, 1);
      }
    }
    return this.calls[count - 1]!;
  }
}

export function scriptedModel(replies: readonly ScriptedReply[]): ScriptedModel {
  return new ScriptedModel(replies);
}

/**
 * What a provider throws on an HTTP error status, for `reject`: `headers` such as `retry-after`
 * or `retry-after-ms`; retryable as the AI SDK's providers decide (408, 409, 429, 5xx) unless told.
 */
export function httpError(
  statusCode: number,
  headers: Record<string, string> = {},
  isRetryable = [408, 409, 429].includes(statusCode) || statusCode >= 500,
): APICallError {
  return new APICallError({
    message: `HTTP ${statusCode} from the scripted provider (secret account detail)`,
    url: 'https://llm.example/v1/chat/completions',
    requestBodyValues: {},
    statusCode,
    responseHeaders: headers,
    responseBody: '{"error":"account 1234 over quota"}',
    isRetryable,
  });
}

function validate(reply: ScriptedReply, i: number): void {
  const endings = (['error', 'reset', 'hang', 'reject'] as const).filter((k) => reply[k] !== undefined);
  if (endings.length > 1) throw new Error(`scripted-model: reply ${i} has more than one ending: ${endings.join(', ')}`);
  if (reply.reject && (reply.text !== undefined || reply.toolCalls))
    throw new Error(`scripted-model: reply ${i} rejects, so it cannot stream text or tool calls`);
  for (const call of reply.toolCalls ?? []) {
    if (call.deltas && call.deltas.join('') !== argumentText(call))
      throw new Error(`scripted-model: reply ${i}: the deltas of ${call.name} do not join to its arguments ${argumentText(call)}`);
  }
}

function argumentText(call: ScriptedToolCall): string {
  return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
}

function recordCall(index: number, options: CallOptions, state: { cancelled: boolean }): ScriptedCall {
  const system = options.prompt.find((m) => m.role === 'system');
  return {
    index,
    startedAt: performance.now(),
    prompt: options.prompt,
    system: system?.content,
    transcript: describePrompt(options.prompt),
    tools: (options.tools ?? []).map((t) => t.name),
    options,
    get aborted() {
      return options.abortSignal?.aborted ?? false;
    },
    get abortReason(): unknown {
      const reason: unknown = options.abortSignal?.reason;
      return reason;
    },
    get cancelled() {
      return state.cancelled;
    },
  };
}

/**
 * One line per message part: `system: …`, `user: …`, `assistant: …`,
 * `assistant calls <tool>#<id>(<json input>)`, `tool <tool>#<id>: <json output>` (an error output
 * reads `tool <tool>#<id> error: <text>`).
 */
export function describePrompt(prompt: readonly PromptMessage[]): string[] {
  return prompt.flatMap((m): string[] => {
    switch (m.role) {
      case 'system':
        return [`system: ${m.content}`];
      case 'user':
        return m.content.map((p) => (p.type === 'text' ? `user: ${p.text}` : `user ${p.type}`));
      case 'assistant':
        return m.content.map((p) => {
          switch (p.type) {
            case 'text':
              return `assistant: ${p.text}`;
            case 'tool-call':
              return `assistant calls ${p.toolName}#${p.toolCallId}(${JSON.stringify(p.input)})`;
            default:
              return `assistant ${p.type}`;
          }
        });
      case 'tool':
        return m.content.map((p) => {
          if (p.type !== 'tool-result') return `tool ${p.type}`;
          const o = p.output;
          switch (o.type) {
            case 'text':
              return `tool ${p.toolName}#${p.toolCallId}: ${o.value}`;
            case 'json':
              return `tool ${p.toolName}#${p.toolCallId}: ${JSON.stringify(o.value)}`;
            case 'error-text':
              return `tool ${p.toolName}#${p.toolCallId} error: ${o.value}`;
            case 'error-json':
              return `tool ${p.toolName}#${p.toolCallId} error: ${JSON.stringify(o.value)}`;
            default:
              return `tool ${p.toolName}#${p.toolCallId} ${o.type}`;
          }
        });
    }
  });
}

function partsOf(reply: ScriptedReply, index: number): StreamPart[] {
  const parts: StreamPart[] = [];
  const pieces = typeof reply.text === 'string' ? [reply.text] : (reply.text ?? []);
  if (pieces.length) {
    const id = `text_${index}`;
    parts.push({ type: 'text-start', id });
    for (const delta of pieces) parts.push({ type: 'text-delta', id, delta });
    parts.push({ type: 'text-end', id });
  }
  (reply.toolCalls ?? []).forEach((call, i) => {
    const id = call.id ?? `call_${index}_${i}`;
    const input = argumentText(call);
    const providerExecuted = 'providerResult' in call ? { providerExecuted: true } : {};
    parts.push(
      { type: 'tool-input-start', id, toolName: call.name, ...providerExecuted },
      ...(call.deltas ?? [input]).map((delta): StreamPart => ({ type: 'tool-input-delta', id, delta })),
      { type: 'tool-input-end', id },
      { type: 'tool-call', toolCallId: id, toolName: call.name, input, ...providerExecuted },
    );
    if ('providerResult' in call)
      parts.push({ type: 'tool-result', toolCallId: id, toolName: call.name, result: call.providerResult as NonNullable<JSONValue> });
  });
  if (reply.error) parts.push({ type: 'error', error: reply.error });
  else if (!reply.reset && !reply.hang) {
    const usage = { ...DEFAULT_USAGE, ...reply.usage };
    const unified = reply.finishReason ?? (reply.toolCalls?.length ? 'tool-calls' : 'stop');
    parts.push({
      type: 'finish',
      usage: {
        inputTokens: { total: usage.input, noCache: usage.input, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: usage.output, text: usage.output, reasoning: undefined },
      },
      finishReason: { unified, raw: unified },
    });
  }
  return parts;
}

/** Serves the parts one per pull, so the SDK reads them as they come; every wait honours `signal`. */
function replyStream(reply: ScriptedReply, index: number, signal: AbortSignal | undefined, state: { cancelled: boolean }): ReadableStream<StreamPart> {
  const parts = partsOf(reply, index);
  let next = 0;
  let stopWaiting: (() => void) | undefined;
  return new ReadableStream<StreamPart>({
    start(controller) {
      controller.enqueue({ type: 'stream-start', warnings: [] });
    },
    async pull(controller) {
      try {
        const part = parts[next];
        if (part) {
          if (reply.delayMs) await wait(reply.delayMs, signal, (stop) => (stopWaiting = stop));
          else if (signal?.aborted) throw signal.reason;
          next++;
          controller.enqueue(part);
        } else if (reply.reset) controller.error(reply.reset);
        else if (reply.hang) await wait(undefined, signal, (stop) => (stopWaiting = stop));
        else controller.close();
      } catch (reason) {
        controller.error(reason);
      }
    },
    cancel() {
      state.cancelled = true;
      stopWaiting?.();
    },
  });
}

/**
 * Resolves after `ms` (never, when undefined); rejects with the signal's reason once it fires.
 * `onStop` receives a function that ends the wait quietly (the stream was cancelled).
 */
function wait(ms: number | undefined, signal: AbortSignal | undefined, onStop: (stop: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    onStop(done);
  });
}
