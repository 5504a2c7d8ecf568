/**
 * One error class per failure a caller handles differently. Each carries the service's stable
 * `code`, the HTTP `status` (0 when there was no response) and the `requestId` to quote in a
 * bug report.
 */
export class AgentApiError extends Error {
  override name = 'AgentApiError';
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly requestId: string | undefined,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** 401: missing or unknown API key. */
export class AuthenticationError extends AgentApiError {
  override name = 'AuthenticationError';
}
/** 400/413/415: the request was refused as invalid; `details` names the fields. */
export class ValidationError extends AgentApiError {
  override name = 'ValidationError';
}
/** 404: no such session for this key (or no such route). */
export class NotFoundError extends AgentApiError {
  override name = 'NotFoundError';
}
/** 409 session_busy: the session is still answering an earlier message. */
export class SessionBusyError extends AgentApiError {
  override name = 'SessionBusyError';
}
/** 429: rate limited. */
export class RateLimitError extends AgentApiError {
  override name = 'RateLimitError';
}
/** 503 model_not_configured: the service runs but has no model. */
export class NotConfiguredError extends AgentApiError {
  override name = 'NotConfiguredError';
}
/** 502/504, or an `error` event mid-stream: the model provider failed or timed out. */
export class UpstreamError extends AgentApiError {
  override name = 'UpstreamError';
}
/** No HTTP answer at all: refused, reset, DNS, or the stream was cut mid-way. */
export class NetworkError extends AgentApiError {
  override name = 'NetworkError';
}
