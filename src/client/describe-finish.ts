import type { FinishReason } from './types.js';

/** Why a turn that ended without an error stopped short of a finished answer, in words; undefined for a normal stop. */
export function describeFinish(reason: FinishReason): string | undefined {
  switch (reason) {
    case 'length':
      return 'the model reached its output limit; the reply is cut short';
    case 'max_steps':
      return 'the agent reached its step limit (AGENT_MAX_STEPS) before finishing; ask it to continue';
    case 'content_filter':
      return "the provider's content filter stopped the reply";
    case 'tool_calls':
      return 'the model called a tool that the caller runs; send the results to continue';
    case 'stop':
    case 'error':
      return undefined;
  }
}
