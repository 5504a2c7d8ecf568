import type { FastifyError } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { RunError } from '../runs/run-error.js';
import { ApiError } from './errors.js';

function fieldOf(context: string | undefined, instancePath: string): string {
  const path = instancePath.replace(/^\//, '').replaceAll('/', '.');
  return [context, path].filter(Boolean).join('.') || 'body';
}

/** Maps anything thrown to the registry; only ApiErrors and framework 4xx keep their message. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof RunError) {
    return new ApiError(error.code, error.message, error.details, error.retryAfterS === undefined ? {} : { 'retry-after': String(error.retryAfterS) });
  }
  if (hasZodFastifySchemaValidationErrors(error)) {
    // Read through Fastify's own type: the provider's branded issue type does not resolve for the linter.
    const { validation = [], validationContext } = error as FastifyError;
    const details = validation.map((v) => ({ field: fieldOf(validationContext, v.instancePath), message: v.message }));
    const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
    return new ApiError('validation_error', `Invalid request: ${summary}`, details);
  }
  const e = error as Partial<FastifyError>;
  if (e.statusCode === 413) return new ApiError('payload_too_large');
  if (e.statusCode === 415) return new ApiError('unsupported_media_type');
  if (e.statusCode === 400 && (error instanceof SyntaxError || e.code?.startsWith('FST_ERR_CTP'))) {
    return new ApiError('invalid_json', e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ? 'The request body is empty but must be JSON' : undefined);
  }
  if (e.code === 'FST_ERR_BAD_URL') return new ApiError('validation_error', 'The URL is not valid (bad percent-encoding)');
  if (e.code === 'FST_ERR_MAX_PARAM_LENGTH') return new ApiError('validation_error', 'A path parameter is too long');
  return new ApiError('internal_error');
}

/** 5xx are logged (with the stack only when the cause is unknown); client errors are the client's business. */
export function logApiError(
  log: { error: (obj: object, msg: string) => void; warn: (obj: object, msg: string) => void },
  apiError: ApiError,
  error: unknown,
): void {
  if (apiError.status >= 500 && apiError.code === 'internal_error') log.error({ err: error }, 'unhandled error');
  else if (apiError.status >= 500) log.warn({ code: apiError.code, err: error }, apiError.message);
}
