import type { LanguageModelV3 } from '@ai-sdk/provider';
import type { ToolSet } from 'ai';
import type { AgentEvent } from '../core/events.js';
import type { ChatMessage } from '../core/messages.js';
import type { Attachment, AttachmentKind, ModelSettings, ToolChoice } from '../core/turn-options.js';
import { AgentError } from './agent-error.js';
import { prepareTools, type ClientTool } from './prepare-tools.js';
import { runTurn } from './run-turn.js';

export interface AgentRunInput {
  /** Earlier turns of the session, oldest first. */
  history: ChatMessage[];
  /**
   * The new user message. Absent when the turn only answers client tools: then `history` ends with
   * the assistant message that called them and a `tool` message with each result.
   */
  message?: string | undefined;
  /**
   * Tools the caller runs itself (no implementation here): the model may call them, and the turn
   * then ends with `finish_reason: "tool_calls"` and those calls pending.
   */
  clientTools?: readonly ClientTool[] | undefined;
  /** Sampling and format settings for every model call of the turn. */
  settings?: ModelSettings | undefined;
  toolChoice?: ToolChoice | undefined;
  /** Images and files sent with `message` (only kinds the agent `accepts`). */
  attachments?: readonly Attachment[] | undefined;
  /** Aborting stops the model request and the tools (each gets this signal) at once. */
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
  /** What it takes besides text (images, files); none when absent. Requests with others are refused (400). */
  readonly accepts?: readonly AttachmentKind[];
  /** The model it calls, as shown by `/v1/models` and `/ready` (optional). */
  readonly modelName?: string | undefined;
  /** Undefined when the agent can answer; otherwise why not, in words an operator can act on. */
  notReadyReason(): string | undefined;
  /** Yields steps, tokens and tool calls as they happen and ends with one `finish`; throws `AgentError`. */
  run(input: AgentRunInput): AsyncIterable<AgentEvent>;
}

export interface AgentOptions {
  name?: string;
  /** Any AI SDK provider's language model (spec v3). Undefined leaves the agent unconfigured: it starts, and every run fails `model_not_configured`. */
  model?: LanguageModelV3 | undefined;
  instructions?: string | undefined;
  /** Tools made with the AI SDK's `tool()`: input checked against `inputSchema`, then `execute` runs. */
  tools?: ToolSet;
  /** Model calls per turn at most; a turn cut short by it ends with `finish_reason: "max_steps"`. */
  maxSteps?: number;
  historyWindow?: number;
  /** Longest silence from the model (time spent running tools or backing off excluded) before the run fails `upstream_timeout`. */
  timeoutMs?: number;
  /** Retries of a model call that fails before any output. */
  maxRetries?: number;
  /** The first retry's backoff (doubling after); a provider's `Retry-After` takes its place. Default 1000. */
  retryDelayMs?: number;
  /** A `Retry-After` longer than this is not waited out: the run fails `upstream_rate_limited` at once. Default 30000. */
  maxRetryAfterMs?: number;
  /** Shown by `/ready` and in 503s when `model` is missing. */
  notConfiguredHint?: string;
  /** What the model takes besides text; default both (most current models do). Others are refused before the model is called. */
  accepts?: readonly AttachmentKind[];
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
    retryDelayMs = 1000,
    maxRetryAfterMs = 30_000,
    notConfiguredHint = 'No model is configured: pass `model` to createAgent().',
    accepts = ['image', 'file'],
  } = options;
  if (model && model.specificationVersion !== 'v3') {
    throw new TypeError(`createAgent: the model speaks the provider spec ${String(model.specificationVersion)}; use an AI SDK v6 provider (spec v3)`);
  }
  const tools = prepareTools(options.tools ?? {});
  const retry = { maxRetries, baseDelayMs: retryDelayMs, maxRetryAfterMs };
  const settings = model && { model, instructions, tools, maxSteps, historyWindow, timeoutMs, retry };

  return {
    name,
    historyWindow,
    accepts,
    modelName: model?.modelId,
    notReadyReason: () => (model ? undefined : notConfiguredHint),
    // The turn's own generator, not one delegating to it: a run waiting on the model holds one
    // generator less (its frame and the promise between the two).
    run: (input) => (settings ? runTurn(settings, input) : notConfigured(notConfiguredHint)),
  };
}

// eslint-disable-next-line require-yield -- fails on the first next(), as a turn does
async function* notConfigured(hint: string): AsyncGenerator<AgentEvent> {
  throw new AgentError('model_not_configured', hint);
}
