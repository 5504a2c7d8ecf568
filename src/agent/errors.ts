/** Why an agent run failed; the codes are stable and shared with the HTTP error registry. */
/** `aborted` means the caller's signal fired: there is nobody left to tell. */
export type AgentErrorCode = 'upstream_error' | 'upstream_timeout' | 'model_not_configured' | 'aborted';

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
