import type {
  LanguageModelV3,
  LanguageModelV3CallOptions,
  LanguageModelV3Message,
  LanguageModelV3ToolCallPart,
  LanguageModelV3ToolChoice,
} from '@ai-sdk/provider';
import type { AgentEvent, FinishReason, StepFinishReason, Usage } from '../core/events.js';
import type { ChatMessage } from '../core/messages.js';
import type { Attachment, ModelSettings, ToolChoice } from '../core/turn-options.js';
import { AgentError } from './agent-error.js';
import { toModelMessages, toolOutput, trimHistory, userContent } from './history.js';
import { IdleTimer } from './idle-timer.js';
import { endChatSpan, failSpan, startChatSpan, traceToolCall, turnSpans } from './gen-ai-spans.js';
import { clientToolDefinition, type ClientTool, type PreparedTool, type ToolDefinition } from './prepare-tools.js';
import type { RetryPolicy } from './retry-policy.js';
import { parseArguments, runToolCall, whenAborted } from './run-tool-call.js';
import { streamModelStep, ZERO_USAGE, type ModelStep, type ModelToolCall } from './stream-model-step.js';
import { toAgentError } from './to-agent-error.js';

export interface TurnSettings {
  model: LanguageModelV3;
  instructions: string;
  tools: Map<string, PreparedTool>;
  maxSteps: number;
  historyWindow: number;
  /** Longest silence from the model before the run fails `upstream_timeout`. */
  timeoutMs: number;
  retry: RetryPolicy;
}

export interface TurnInput {
  history: ChatMessage[];
  /** The new user message; absent when the turn only carries results of client tools (at the end of `history`). */
  message?: string | undefined;
  clientTools?: readonly ClientTool[] | undefined;
  settings?: ModelSettings | undefined;
  toolChoice?: ToolChoice | undefined;
  attachments?: readonly Attachment[] | undefined;
  signal: AbortSignal;
}

type CallSettings = Omit<LanguageModelV3CallOptions, 'prompt' | 'tools' | 'toolChoice' | 'abortSignal'>;

/** The turn's settings as the provider layer names them (unset ones left out). */
function callSettings(s: ModelSettings | undefined): CallSettings {
  if (!s) return {};
  const out: CallSettings = {};
  if (s.temperature !== undefined) out.temperature = s.temperature;
  if (s.topP !== undefined) out.topP = s.topP;
  if (s.maxOutputTokens !== undefined) out.maxOutputTokens = s.maxOutputTokens;
  if (s.stopSequences !== undefined) out.stopSequences = s.stopSequences;
  if (s.seed !== undefined) out.seed = s.seed;
  if (s.presencePenalty !== undefined) out.presencePenalty = s.presencePenalty;
  if (s.frequencyPenalty !== undefined) out.frequencyPenalty = s.frequencyPenalty;
  const format = s.responseFormat;
  if (format?.type === 'json') {
    out.responseFormat = {
      type: 'json',
      ...(format.schema ? { schema: format.schema } : {}),
      ...(format.name ? { name: format.name } : {}),
      ...(format.description ? { description: format.description } : {}),
    };
    // Both OpenAI packages read it from their own key ('llm' is our openai-compatible provider's name).
    if (format.strict !== undefined) out.providerOptions = { llm: { strictJsonSchema: format.strict }, openai: { strictJsonSchema: format.strict } };
  } else if (format?.type === 'text') out.responseFormat = { type: 'text' };
  return out;
}

/** The tool choice of model call `n`: `none` holds all turn; `required` or a named tool only for the first call. */
function toolChoiceOf(choice: ToolChoice | undefined, n: number): LanguageModelV3ToolChoice | undefined {
  if (choice === undefined || choice === 'auto') return undefined;
  if (choice === 'none') return { type: 'none' };
  if (n > 1) return undefined;
  return choice === 'required' ? { type: 'required' } : { type: 'tool', toolName: choice.name };
}

function stepReason(step: ModelStep): StepFinishReason {
  switch (step.finishReason) {
    // A cut-off or filtered answer is no decision to call tools: its calls (the last one's
    // arguments possibly truncated) are reported but not run, and the turn ends.
    case 'length':
      return 'length';
    case 'content-filter':
      return 'content_filter';
    case 'error':
      return 'error';
    default:
      // Some providers say `stop` after tool calls; `tool-calls` with none of ours to run (the
      // provider ran them) and `other` end the turn normally.
      return step.calls.length > 0 ? 'tool_calls' : 'stop';
  }
}

/** A call with its JSON arguments parsed; unparseable text is kept as is for the events and the model. */
function parseCall(c: ModelToolCall) {
  const parsed = parseArguments(c.input);
  return { id: c.id, name: c.name, arguments: parsed.ok ? parsed.value : c.input, argumentsError: parsed.ok ? undefined : parsed.error };
}

const NO_CLIENT_TOOLS: ReadonlyMap<string, ClientTool> = new Map();

function addUsage(a: Usage, b: Usage): Usage {
  return { input_tokens: a.input_tokens + b.input_tokens, output_tokens: a.output_tokens + b.output_tokens, total_tokens: a.total_tokens + b.total_tokens };
}

/**
 * One turn of the agent: up to `maxSteps` model calls; the tool calls of a step run concurrently
 * and their results go back in call order. Ends with `finish` and why, or throws `AgentError`.
 */
export async function* runTurn(settings: TurnSettings, input: TurnInput): AsyncGenerator<AgentEvent> {
  const { model, tools, maxSteps, retry } = settings;
  const { signal } = input;
  if (signal.aborted) throw new AgentError('aborted', 'The run was aborted', { cause: signal.reason });

  const controller = new AbortController();
  const forwardAbort = () => controller.abort(signal.reason);
  signal.addEventListener('abort', forwardAbort, { once: true });
  const idle = new IdleTimer(settings.timeoutMs, () => controller.abort(new AgentError('upstream_timeout', 'The model did not answer in time')));
  // Made when a step first runs tools: a turn that only streams text (held open while the model
  // talks) keeps no promise and listener for it.
  let aborted: Promise<{ aborted: true }> | undefined;
  let done = false;

  try {
    const spans = turnSpans();
    const clientTools: ReadonlyMap<string, ClientTool> = input.clientTools?.length
      ? new Map(input.clientTools.filter((t) => !tools.has(t.name)).map((t) => [t.name, t]))
      : NO_CLIENT_TOOLS;
    const definitions: ToolDefinition[] = [
      ...(await Promise.all([...tools.values()].map((t) => t.definition()))),
      ...[...clientTools.values()].map(clientToolDefinition),
    ];
    // concat, not spreads: an array of the prompt's size, where spreading into a literal leaves
    // room for 16 more, held all turn long.
    const system: LanguageModelV3Message[] = [{ role: 'system', content: settings.instructions }];
    const prompt = system.concat(
      toModelMessages(trimHistory(input.history, settings.historyWindow)),
      input.message === undefined ? [] : [{ role: 'user', content: userContent(input.message, input.attachments) }],
    );
    const settingsOfCall = callSettings(input.settings);
    let usage = ZERO_USAGE;
    let finish: Exclude<FinishReason, 'error'> = 'stop';

    for (let n = 1; ; n++) {
      yield { type: 'step_start', step: n };
      const toolChoice = definitions.length ? toolChoiceOf(input.toolChoice, n) : undefined;
      const call = { ...settingsOfCall, prompt, ...(definitions.length ? { tools: definitions } : {}), ...(toolChoice ? { toolChoice } : {}) };
      const span = startChatSpan(spans, model, call);
      let step: ModelStep | undefined;
      let failure: { error: unknown } | undefined;
      try {
        step = yield* streamModelStep(model, call, retry, idle, controller.signal);
      } catch (error) {
        failure = { error };
        throw error;
      } finally {
        if (step) endChatSpan(spans, span, step);
        // No step and no throw: the consumer stopped reading (return() skips the catch).
        else failSpan(span, failure ? toAgentError(failure.error, controller.signal) : new AgentError('aborted', 'The run was stopped'));
      }
      usage = addUsage(usage, step.usage);
      const reason = stepReason(step);
      const calls = step.calls.map(parseCall);
      for (const c of [...calls, ...step.providerCalls.map(parseCall)]) yield { type: 'tool_call', id: c.id, name: c.name, arguments: c.arguments };
      yield { type: 'step_finish', step: n, finish_reason: reason, usage: step.usage };
      for (const r of step.providerResults) yield { type: 'tool_result', id: r.id, name: r.name, result: r.result };
      if (reason === 'error') throw new AgentError('upstream_error', 'The model ended its answer with an error');
      if (reason !== 'tool_calls') {
        finish = reason;
        break;
      }

      // Server tools run now, all at once; calls of client tools stay pending for the caller.
      const pending = calls.filter((c) => clientTools.has(c.name));
      aborted ??= whenAborted(controller.signal);
      const running = calls
        .filter((c) => !pending.includes(c))
        .map((c) => ({ call: c, result: traceToolCall(spans, c, () => runToolCall(tools.get(c.name), c, controller.signal, idle, aborted)) }));
      const results: LanguageModelV3Message = { role: 'tool', content: [] };
      for (const { call, result } of running) {
        const value = await result;
        if (controller.signal.aborted) throw toAgentError(controller.signal.reason, controller.signal);
        yield { type: 'tool_result', id: call.id, name: call.name, result: value };
        results.content.push({ type: 'tool-result', toolCallId: call.id, toolName: call.name, output: toolOutput(value) });
      }
      const assistantCalls: LanguageModelV3ToolCallPart[] = calls.map((c) => ({ type: 'tool-call', toolCallId: c.id, toolName: c.name, input: c.arguments }));
      prompt.push({ role: 'assistant', content: [...(step.text ? [{ type: 'text' as const, text: step.text }] : []), ...assistantCalls] }, results);
      if (pending.length > 0) {
        finish = 'tool_calls';
        break;
      }
      if (n >= maxSteps) {
        finish = 'max_steps';
        break;
      }
    }
    if (controller.signal.aborted) throw toAgentError(controller.signal.reason, controller.signal);
    done = true;
    yield { type: 'finish', usage, finish_reason: finish };
  } catch (error) {
    throw toAgentError(error, controller.signal);
  } finally {
    idle.stop();
    signal.removeEventListener('abort', forwardAbort);
    // A consumer that stopped reading early must not leave the model request (or a tool) running.
    if (!done && !controller.signal.aborted) controller.abort(new AgentError('aborted', 'The run was stopped'));
  }
}
