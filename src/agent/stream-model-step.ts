import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3FinishReason, LanguageModelV3Usage } from '@ai-sdk/provider';
import { abortableSleep } from '../core/abortable-sleep.js';
import type { AgentEvent, Usage } from '../core/events.js';
import type { IdleTimer } from './idle-timer.js';
import { retryDelay, type RetryPolicy } from './retry-policy.js';
import { toAgentError } from './to-agent-error.js';

/** A tool call as the model wrote it: arguments are JSON text, parsed by the loop. */
export interface ModelToolCall {
  id: string;
  name: string;
  input: string;
}

export interface ModelStep {
  text: string;
  calls: ModelToolCall[];
  /** Calls of tools the provider runs itself (web search and the like), and their results. */
  providerCalls: ModelToolCall[];
  providerResults: Array<{ id: string; name: string; result: unknown }>;
  finishReason: LanguageModelV3FinishReason['unified'];
  usage: Usage;
}

export const ZERO_USAGE: Usage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };

function toUsage(u: LanguageModelV3Usage): Usage {
  const input = u.inputTokens.total ?? 0;
  const output = u.outputTokens.total ?? 0;
  return { input_tokens: input, output_tokens: output, total_tokens: input + output };
}

/**
 * One model call: streams its text and tool-argument deltas as events and returns what the step
 * decided. A call that fails before we have passed anything on is retried (backoff, or the
 * provider's `Retry-After`); once output has gone out, a failure ends the run. The idle timer
 * counts only the model's silence: it is paused while we back off.
 */
export async function* streamModelStep(
  model: LanguageModelV3,
  call: LanguageModelV3CallOptions,
  retry: RetryPolicy,
  idle: IdleTimer,
  signal: AbortSignal,
): AsyncGenerator<AgentEvent, ModelStep> {
  for (let attempt = 0; ; attempt++) {
    let emitted = false;
    try {
      idle.touch();
      const { stream } = await model.doStream({ ...call, abortSignal: signal });
      const reader = stream.getReader();
      let complete = false;
      try {
        const step: ModelStep = { text: '', calls: [], providerCalls: [], providerResults: [], finishReason: 'stop', usage: ZERO_USAGE };
        let names: Map<string, string> | undefined; // tool names by call id, for the argument deltas
        for (;;) {
          const { done, value: part } = await reader.read();
          if (done) break;
          idle.touch();
          switch (part.type) {
            case 'text-delta':
              if (part.delta) {
                step.text += part.delta;
                emitted = true;
                yield { type: 'token', content: part.delta };
              }
              break;
            case 'tool-input-start':
              (names ??= new Map()).set(part.id, part.toolName);
              break;
            case 'tool-input-delta':
              if (part.delta) {
                emitted = true;
                yield { type: 'tool_call_delta', id: part.id, name: names?.get(part.id) ?? '', arguments_delta: part.delta };
              }
              break;
            case 'tool-call':
              // The provider runs its own tools; their results arrive as `tool-result` parts.
              (part.providerExecuted ? step.providerCalls : step.calls).push({ id: part.toolCallId, name: part.toolName, input: part.input });
              break;
            case 'tool-result':
              step.providerResults.push({ id: part.toolCallId, name: part.toolName, result: part.result });
              break;
            case 'finish':
              step.finishReason = part.finishReason.unified;
              step.usage = toUsage(part.usage);
              break;
            case 'error':
              throw part.error;
            default:
              // Reasoning, sources, files and metadata carry nothing we send.
              break;
          }
        }
        complete = true;
        return step;
      } finally {
        // Stopped early (error, abort, a consumer gone): let the provider close its request.
        if (!complete) await reader.cancel().catch(() => {});
        reader.releaseLock();
      }
    } catch (error) {
      if (signal.aborted || emitted) throw toAgentError(error, signal);
      const wait = retryDelay(retry, attempt, error);
      if (wait === undefined) throw toAgentError(error, signal);
      await idle.while(() => abortableSleep(wait, signal));
      if (signal.aborted) throw toAgentError(signal.reason, signal);
    }
  }
}
