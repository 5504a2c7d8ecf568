import type { FastifyError, FastifyRequest } from 'fastify';
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
  // A path that climbs out of a static folder (/docs/static/../..): as if there were no such file.
  if (e.code === 'FST_STATIC_FORBIDDEN_PATH') return new ApiError('route_not_found');
  // The body stream ended early: the client hung up mid-body, so no one reads this answer.
  if (e.code === 'ECONNRESET' || e.code === 'ECONNABORTED' || e.code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new ApiError('validation_error', 'The client closed the connection before the request body was complete');
  }
  // Any other refusal Fastify makes with a 4xx (a QUERY without Content-Type…) is the client's, not ours.
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 && e.code?.startsWith('FST_')) {
    return new ApiError('validation_error', e.message ?? undefined);
  }
  return new ApiError('internal_error');
}

/**
 * Only an unknown failure gets a line of its own, with its stack: that is what a stack is for.
 * Every other error is told in the request's one line (its code, and for a 5xx the cause's
 * message), see `answeredError`.
 */
export function logApiError(request: FastifyRequest, apiError: ApiError, error: unknown): void {
  const cause = error === apiError ? apiError.cause : error;
  answered.set(request, {
    code: apiError.code,
    // The cause of a known 5xx is the operator's clue (which upstream, which store); a 4xx's is the client's business.
    ...(apiError.status >= 500 && cause instanceof Error ? { reason: cause.message } : {}),
  });
  if (apiError.code === 'internal_error') request.log.error({ err: error }, 'unhandled error');
}

const answered = new WeakMap<FastifyRequest, { code: string; reason?: string }>();

/** The error a request was answered with, for its request line. */
export function answeredError(request: FastifyRequest): { code: string; reason?: string } | undefined {
  return answered.get(request);
}
