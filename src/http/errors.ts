/**
 * The error registry: every error a client can see has a stable `code`, one HTTP status and a
 * default message. Clients branch on `code`; messages may be reworded.
 */
export const errorRegistry = {
  validation_error: { status: 400, message: 'The request is not valid' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON' },
  unauthorized: { status: 401, message: 'A valid X-API-Key header is required' },
  route_not_found: { status: 404, message: 'No such route' },
  session_not_found: { status: 404, message: 'No such session' },
  session_busy: { status: 409, message: 'This session is still answering an earlier message; retry when it has finished' },
  payload_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'The request body must be application/json' },
  rate_limited: { status: 429, message: 'Too many requests; slow down' },
  internal_error: { status: 500, message: 'Internal server error; the request id identifies it in the logs' },
  upstream_error: { status: 502, message: 'The model provider failed' },
  model_not_configured: { status: 503, message: 'No model is configured' },
  not_ready: { status: 503, message: 'The service is not ready' },
  shutting_down: { status: 503, message: 'The service is shutting down; retry on another instance' },
  upstream_timeout: { status: 504, message: 'The model provider did not answer in time' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorRegistry;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; request_id: string; details?: unknown };
}

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string = errorRegistry[code].message,
    readonly details?: unknown,
  ) {
    super(message);
    this.status = errorRegistry[code].status;
  }
}

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorRegistry, code);
}

export function errorBody(error: ApiError, requestId: string): ErrorBody {
  return {
    error: {
      code: error.code,
      message: error.message,
      request_id: requestId,
      ...(error.details === undefined ? {} : { details: error.details }),
    },
  };
}
