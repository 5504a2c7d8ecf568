import type { ErrorCode } from '../core/error-codes.js';

/**
 * Why an agent run failed: a code from the error registry, or `aborted` when the caller's signal
 * fired (there is nobody left to tell, so it has no HTTP meaning).
 */
export type AgentErrorCode = Extract<ErrorCode, 'upstream_error' | 'upstream_timeout' | 'upstream_rate_limited' | 'model_not_configured'> | 'aborted';

export class AgentError extends Error {
  override name = 'AgentError';
  /** Seconds the provider asked us to wait (`upstream_rate_limited`), when it said. */
  readonly retryAfter: number | undefined;
  constructor(
    readonly code: AgentErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfter?: number | undefined },
  ) {
    super(message, options);
    this.retryAfter = options?.retryAfter;
  }
}
