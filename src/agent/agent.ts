import { asSchema, stepCountIs, streamText, type LanguageModel, type ToolSet } from 'ai';
import { AgentError } from './agent-error.js';
import type { AgentEvent } from '../core/events.js';
import { toModelMessages, trimHistory } from './history.js';
import type { ChatMessage } from '../core/messages.js';
import { toAgentError } from './to-agent-error.js';

export interface AgentRunInput {
  /** Earlier turns of the session, oldest first. */
  history: ChatMessage[];
  message: string;
  /** Aborting stops the model request and any further tool steps at once. */
  signal: AbortSignal;
}

/**
 * What the HTTP layer serves. Implement it yourself to serve anything that can produce the event
 * stream, or use `createAgent` for a model + tools loop.
 */
export interface Agent {
  readonly name: string;
  /** How many stored messages to load as history for each run. */
  readonly historyWindow: number;
  /** Undefined when the agent can answer; otherwise why not, in words an operator can act on. */
  notReadyReason(): string | undefined;
  /** Yields tokens and tool steps as they happen and ends with one `finish`; throws `AgentError`. */
  run(input: AgentRunInput): AsyncIterable<AgentEvent>;
}

export interface AgentOptions {
  name?: string;
  /** Undefined leaves the agent unconfigured: it starts, and every run fails `model_not_configured`. */
  model?: LanguageModel | undefined;
  instructions?: string | undefined;
  tools?: ToolSet;
  maxSteps?: number;
  historyWindow?: number;
  /** Longest silence from the model (time spent running tools excluded) before the run fails `upstream_timeout`. */
  timeoutMs?: number;
  maxRetries?: number;
  /** Shown by `/ready` and in 503s when `model` is missing. */
  notConfiguredHint?: string;
}

export const DEFAULT_INSTRUCTIONS =
  'You are a helpful assistant. Use the calculator tool for arithmetic and the current_time tool for dates and times. Answer concisely.';

export function createAgent(options: AgentOptions): Agent {
  const {
    name = 'agent',
    model,
    instructions = DEFAULT_INSTRUCTIONS,
    maxSteps = 8,
    historyWindow = 50,
    timeoutMs = 60_000,
    maxRetries = 2,
    notConfiguredHint = 'No model is configured: pass `model` to createAgent().',
  } = options;
  const tools = withToolTiming(withCachedSchemas(options.tools ?? {}));

  return {
    name,
    historyWindow,
    notReadyReason: () => (model ? undefined : notConfiguredHint),
    async *run({ history, message, signal }) {
      if (!model) throw new AgentError('model_not_configured', notConfiguredHint);
      if (signal.aborted) throw new AgentError('aborted', 'The run was aborted', { cause: signal.reason });

      const controller = new AbortController();
      const forwardAbort = () => controller.abort(signal.reason);
      signal.addEventListener('abort', forwardAbort, { once: true });
      let done = false;
      const idle = new IdleTimer(timeoutMs, () => controller.abort(new AgentError('upstream_timeout', 'The model did not answer in time')));

      try {
        const result = streamText({
          model,
          system: instructions,
          messages: [...toModelMessages(trimHistory(history, historyWindow)), { role: 'user', content: message }],
          tools,
          stopWhen: stepCountIs(maxSteps),
          abortSignal: controller.signal,
          maxRetries,
          experimental_context: { idle } satisfies RunContext,
          // Errors arrive as `error` parts and are mapped below; the SDK's default handler would
          // console.error the raw error (provider body, request messages) past the logger.
          onError: () => {},
        });
        for await (const part of result.fullStream) {
          idle.touch();
          switch (part.type) {
            case 'text-delta':
              if (part.text) yield { type: 'token', content: part.text };
              break;
            case 'tool-call':
              yield { type: 'tool_call', id: part.toolCallId, name: part.toolName, arguments: part.input };
              break;
            case 'tool-result':
              yield { type: 'tool_result', id: part.toolCallId, name: part.toolName, result: part.output };
              break;
            case 'tool-error':
              yield { type: 'tool_result', id: part.toolCallId, name: part.toolName, result: { error: errorText(part.error) } };
              break;
            case 'error':
              throw toAgentError(part.error, controller.signal);
            case 'abort':
              throw toAgentError(controller.signal.reason, controller.signal);
            case 'finish': {
              const u = part.totalUsage;
              const input = u.inputTokens ?? 0;
              const output = u.outputTokens ?? 0;
              yield { type: 'finish', usage: { input_tokens: input, output_tokens: output, total_tokens: u.totalTokens ?? input + output } };
              break;
            }
            default:
              // Step boundaries, reasoning, sources and the like carry nothing we send.
              break;
          }
        }
        // The SDK may end the stream quietly on abort; never report that as a clean finish.
        if (controller.signal.aborted) throw toAgentError(controller.signal.reason, controller.signal);
        done = true;
      } catch (error) {
        // A reset mid-stream surfaces as a throw from the iterator rather than an `error` part.
        throw toAgentError(error, controller.signal);
      } finally {
        idle.stop();
        signal.removeEventListener('abort', forwardAbort);
        // A consumer that stopped reading early must not leave the model request (or a tool) running.
        if (!done && !controller.signal.aborted) controller.abort(new AgentError('aborted', 'The run was stopped'));
      }
    },
  };
}

/**
 * The SDK turns a zod input schema into JSON Schema on every model call (a large share of a
 * turn's CPU); a schema wrapped once by `asSchema` keeps its JSON Schema after the first use.
 */
function withCachedSchemas(tools: ToolSet): ToolSet {
  return Object.fromEntries(Object.entries(tools).map(([name, t]) => [name, t.inputSchema ? { ...t, inputSchema: asSchema(t.inputSchema) } : t]));
}

/** What every tool call of one run can reach through the SDK's `experimental_context`. */
interface RunContext {
  idle: IdleTimer;
}

/**
 * Time a tool spends running is ours, not the model's silence: each call pauses its run's idle
 * timer until it returns. (The SDK may hold a tool's result until the model's step ends, so the
 * stream's parts alone cannot tell when tools run.)
 */
function withToolTiming(tools: ToolSet): ToolSet {
  return Object.fromEntries(
    Object.entries(tools).map(([name, t]) => {
      const { execute } = t;
      if (!execute) return [name, t];
      const timed: typeof execute = async (input, options) => {
        const idle = (options.experimental_context as RunContext | undefined)?.idle;
        idle?.pause();
        try {
          const output: unknown = await execute(input, options);
          return output;
        } finally {
          idle?.resume();
        }
      };
      return [name, { ...t, execute: timed }];
    }),
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Aborts when the model has been silent too long; paused while tools run, since that silence is ours. */
class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  private running = 0;
  private stopped = false;
  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {
    this.timer = setTimeout(onIdle, ms);
  }
  /** The model said something: its silence starts again (unless a tool is running). */
  touch(): void {
    if (this.running > 0 || this.stopped) return;
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onIdle, this.ms);
  }
  pause(): void {
    this.running++;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
  resume(): void {
    this.running--;
    this.touch();
  }
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
