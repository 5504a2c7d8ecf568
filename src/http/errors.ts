import { errorRegistry, type ErrorCode } from '../core/error-codes.js';
import type { ErrorBody } from './schemas.js';

/** Thrown by routes and hooks; the error handler answers it with its registry status. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string = errorRegistry[code].message,
    readonly details?: unknown,
    /** Extra response headers (e.g. `Retry-After`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = errorRegistry[code].status;
  }
}

/** The one JSON shape of every error response outside the OpenAI-compatible routes. */
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
