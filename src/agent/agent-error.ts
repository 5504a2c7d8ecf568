import type { ErrorCode } from '../core/error-codes.js';

/**
 * Why an agent run failed: a code from the error registry, or `aborted` when the caller's signal
 * fired (there is nobody left to tell, so it has no HTTP meaning).
 */
export type AgentErrorCode = Extract<ErrorCode, 'upstream_error' | 'upstream_timeout' | 'model_not_configured'> | 'aborted';

export class AgentError extends Error {
  override name = 'AgentError';
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
