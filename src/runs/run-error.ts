import { errorRegistry, type ErrorCode } from '../core/error-codes.js';

/**
 * Why a run could not start or be read: a code from the error registry. The HTTP layer answers it
 * with the registry's status; `retryAfterS` becomes a `Retry-After` header.
 */
export class RunError extends Error {
  override name = 'RunError';
  constructor(
    readonly code: ErrorCode,
    message: string = errorRegistry[code].message,
    readonly details?: unknown,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}
