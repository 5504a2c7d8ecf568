import { APICallError } from 'ai';
import { AgentError } from './agent-error.js';
import { retryAfterMs } from './retry-policy.js';

/**
 * Turns whatever the provider threw into a stable code. Provider messages can carry account
 * details, so the message we keep names only the status or the kind of failure.
 */
export function toAgentError(error: unknown, signal: AbortSignal): AgentError {
  if (error instanceof AgentError) return error;
  if (signal.aborted && signal.reason instanceof AgentError) return signal.reason;
  if (signal.aborted) return new AgentError('aborted', 'The run was aborted', { cause: error });
  if (APICallError.isInstance(error)) {
    if (error.statusCode === 408 || error.statusCode === 504) {
      return new AgentError('upstream_timeout', `The model provider timed out (HTTP ${error.statusCode})`, { cause: error });
    }
    if (error.statusCode === 429) {
      const wait = retryAfterMs(error);
      return new AgentError('upstream_rate_limited', 'The model provider is rate-limiting this service (HTTP 429); retry later', {
        cause: error,
        retryAfter: wait === undefined ? undefined : Math.ceil(wait / 1000),
      });
    }
    const what = error.statusCode ? `answered HTTP ${error.statusCode}` : 'could not be reached';
    return new AgentError('upstream_error', `The model provider ${what}`, { cause: error });
  }
  return new AgentError('upstream_error', 'The model provider failed', { cause: error });
}
