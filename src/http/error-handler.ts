import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, errorBody } from './errors.js';
import { isOpenAiPath, openAiErrorBody } from './openai-errors.js';
import { logApiError, toApiError } from './to-api-error.js';

/** The body for an error answered outside any route's own handler, in the shape its path speaks. */
function bodyFor(request: FastifyRequest, apiError: ApiError): unknown {
  return isOpenAiPath(request.url) ? openAiErrorBody(apiError) : errorBody(apiError, request.id);
}

/**
 * For errors the router raises before any route or hook runs (bad URL encoding, over-long path
 * params): same shape and x-request-id header as every other error.
 */
export function frameworkErrorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const apiError = toApiError(error);
  logApiError(request, apiError, error);
  void reply.header('x-request-id', request.id).headers(apiError.headers).status(apiError.status).send(bodyFor(request, apiError));
}

const notFound = (request: FastifyRequest) => new ApiError('route_not_found', `No route ${request.method} ${request.url.split('?')[0]}`);

/** The global handlers; the OpenAI-compatible routes set their own error handler in their plugin. */
export function registerErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    // A request no route matches is a 404 even when reading its body failed first (QUERY without Content-Type).
    const apiError = request.is404 ? notFound(request) : toApiError(error);
    logApiError(request, apiError, error);
    return reply.headers(apiError.headers).status(apiError.status).send(errorBody(apiError, request.id));
  });
  app.setNotFoundHandler((request, reply) => {
    const apiError = notFound(request);
    logApiError(request, apiError, apiError);
    return reply.status(404).send(bodyFor(request, apiError));
  });
}
