interface ErrorSpec {
  /** The HTTP status of a response carrying this code (an `error` event mid-stream keeps its 200). */
  readonly status: number;
  /** The default message; responses may say more. */
  readonly message: string;
  /** The code OpenAI's own API uses for the same failure, on the OpenAI-compatible routes. */
  readonly openai?: string;
}

/**
 * The error registry: every error a client can see has a stable `code`, one HTTP status and a
 * default message. Clients branch on `code`; messages may be reworded. Everything else that
 * needs a code's status, message or OpenAI name derives it from here, so a new code is added in
 * one place. Plain data with no imports, so browser code may use it at run time. Each status's
 * most general code comes first: an answer with only a status is taken to mean that one.
 */
export const errorRegistry = {
  validation_error: { status: 400, message: 'The request is not valid', openai: 'invalid_request_error' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON', openai: 'invalid_request_error' },
  unauthorized: { status: 401, message: 'A valid X-API-Key header is required', openai: 'invalid_api_key' },
  forbidden: { status: 403, message: 'This key may not do that' },
  admin_disabled: { status: 403, message: 'Admin routes are off: set ADMIN_API_KEY to manage keys' },
  route_not_found: { status: 404, message: 'No such route' },
  session_not_found: { status: 404, message: 'No such session' },
  run_not_found: { status: 404, message: 'No such run' },
  model_not_found: { status: 404, message: 'No such model: GET /v1/models lists the agents served here', openai: 'model_not_found' },
  key_not_found: { status: 404, message: 'No such API key' },
  request_timeout: { status: 408, message: 'The request did not arrive in time (BODY_TIMEOUT_MS); the connection is closed' },
  session_busy: { status: 409, message: 'This session is answering another message; retry when that run has finished' },
  session_agent_mismatch: { status: 409, message: 'This session belongs to another agent' },
  cancelled: { status: 409, message: 'The run was cancelled' },
  run_events_expired: { status: 410, message: "The run's events are no longer kept" },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'The request body must be application/json' },
  rate_limited: { status: 429, message: 'Too many requests; slow down', openai: 'rate_limit_exceeded' },
  upstream_rate_limited: { status: 429, message: 'The model provider is rate-limiting this service; retry later', openai: 'rate_limit_exceeded' },
  budget_exceeded: { status: 429, message: 'This key has used its token budget; an admin can raise it or issue another key' },
  internal_error: { status: 500, message: 'Internal server error; the request id identifies it in the logs' },
  upstream_error: { status: 502, message: 'The model provider failed' },
  not_ready: { status: 503, message: 'The service is not ready' },
  model_not_configured: { status: 503, message: 'No model is configured' },
  shutting_down: { status: 503, message: 'The service is shutting down; retry on another instance' },
  interrupted: { status: 503, message: 'The run was interrupted: the process running it stopped; send the message again' },
  upstream_timeout: { status: 504, message: 'The model provider did not answer in time' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorRegistry;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorRegistry, code);
}

/** The spec of a code, widened so optional fields can be read from any entry. */
export function errorSpec(code: ErrorCode): ErrorSpec {
  return errorRegistry[code];
}
