import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ApiError, errorBody } from './errors.js';
import { isOpenAiPath, openAiErrorBody, openAiErrorHandler } from './openai-errors.js';

function fieldOf(context: string | undefined, instancePath: string): string {
  const path = instancePath.replace(/^\//, '').replaceAll('/', '.');
  return [context, path].filter(Boolean).join('.') || 'body';
}

/** Maps anything thrown to the registry; only ApiErrors and framework 4xx keep their message. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const details = error.validation.map((v) => ({ field: fieldOf(error.validationContext, v.instancePath), message: v.message }));
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

/**
 * For errors the router raises before any route or hook runs (bad URL encoding, over-long path
 * params): same shape and x-request-id header as every other error.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const apiError = toApiError(error);
  void reply.header('x-request-id', request.id).status(apiError.status).send(errorBody(apiError, request.id));
}

export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    // The OpenAI-compatible routes answer in OpenAI's error shape (their own plugin does too).
    if (isOpenAiPath(request.url)) return openAiErrorHandler(error, request, reply);
    const apiError = toApiError(error);
    if (apiError.status >= 500 && apiError.code === 'internal_error') request.log.error({ err: error }, 'unhandled error');
    else if (apiError.status >= 500) request.log.warn({ code: apiError.code, err: error }, apiError.message);
    return reply.status(apiError.status).send(errorBody(apiError, request.id));
  });
  app.setNotFoundHandler((request, reply) => {
    const apiError = new ApiError('route_not_found', `No route ${request.method} ${request.url.split('?')[0]}`);
    if (isOpenAiPath(request.url)) return reply.status(404).send(openAiErrorBody(apiError));
    return reply.status(404).send(errorBody(apiError, request.id));
  });
}
