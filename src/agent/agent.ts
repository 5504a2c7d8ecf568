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
  const tools = withCachedSchemas(options.tools ?? {});

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
          // Errors arrive as `error` parts and are mapped below; the SDK's default handler would
          // console.error the raw error (provider body, request messages) past the logger.
          onError: () => {},
        });
        let pendingTools = 0;
        for await (const part of result.fullStream) {
          if (part.type === 'tool-call') pendingTools++;
          else if (part.type === 'tool-result' || part.type === 'tool-error') pendingTools--;
          idle.touch(pendingTools > 0);
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
      } catch (error) {
        // A reset mid-stream surfaces as a throw from the iterator rather than an `error` part.
        throw toAgentError(error, controller.signal);
      } finally {
        idle.stop();
        signal.removeEventListener('abort', forwardAbort);
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

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Aborts when the model has been silent too long; paused while tools run, since that silence is ours. */
class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {
    this.timer = setTimeout(onIdle, ms);
  }
  touch(paused: boolean): void {
    if (paused) {
      clearTimeout(this.timer);
      this.timer = undefined;
    } else if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.onIdle, this.ms);
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}
