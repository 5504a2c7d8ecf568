import { APICallError, RetryError } from 'ai';
import { AgentError } from './agent-error.js';

/**
 * Turns whatever the SDK threw into a stable code. Provider messages can carry account details,
 * so the message we keep names only the status or the kind of failure.
 */
export function toAgentError(error: unknown, signal: AbortSignal): AgentError {
  if (error instanceof AgentError) return error;
  if (signal.aborted && signal.reason instanceof AgentError) return signal.reason;
  if (signal.aborted) return new AgentError('aborted', 'The run was aborted', { cause: error });
  const last = RetryError.isInstance(error) ? error.lastError : error;
  if (APICallError.isInstance(last)) {
    if (last.statusCode === 408 || last.statusCode === 504) {
      return new AgentError('upstream_timeout', `The model provider timed out (HTTP ${last.statusCode})`, { cause: error });
    }
    const what = last.statusCode ? `answered HTTP ${last.statusCode}` : 'could not be reached';
    return new AgentError('upstream_error', `The model provider ${what}`, { cause: error });
  }
  return new AgentError('upstream_error', 'The model provider failed', { cause: error });
}
