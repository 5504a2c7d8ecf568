import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { errorSpec } from '../core/error-codes.js';
import type { ApiError } from './errors.js';
import { logApiError, toApiError } from './to-api-error.js';

/**
 * Errors of the OpenAI-compatible routes in OpenAI's own shape, `{"error":{message,type,code,param}}`,
 * with the same statuses as the rest of the API, so the official SDKs raise their typed errors
 * (401 AuthenticationError, 400 BadRequestError, 404 NotFoundError, 409 ConflictError,
 * 429 RateLimitError, 5xx InternalServerError).
 */
export const OpenAiErrorBody = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().describe('invalid_request_error, rate_limit_error, insufficient_quota or server_error'),
      code: z.string().nullable().describe('Stable machine-readable code (ours, but invalid_api_key and invalid_request_error as OpenAI names them)'),
      param: z.string().nullable(),
    }),
  })
  .describe('Error (OpenAI shape)');
export type OpenAiErrorBody = z.output<typeof OpenAiErrorBody>;

function typeOf(error: ApiError): string {
  // OpenAI's type for a used-up quota; the code stays ours, as the issue and our other routes name it.
  if (error.code === 'budget_exceeded') return 'insufficient_quota';
  const status = error.status;
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** `body.messages.0.content` → `messages[0].content`, the way OpenAI names parameters. */
function paramOf(details: unknown): string | null {
  const first: unknown = Array.isArray(details) ? details[0] : undefined;
  const field = typeof first === 'object' && first !== null && 'field' in first ? first.field : undefined;
  if (typeof field !== 'string') return null;
  const path = field.replace(/^body\.?/, '').replace(/\.(\d+)(?=\.|$)/g, '[$1]');
  return path || null;
}

export function openAiErrorBody(error: ApiError): OpenAiErrorBody {
  return {
    error: { message: error.message, type: typeOf(error), code: errorSpec(error.code).openai ?? error.code, param: paramOf(error.details) },
  };
}

/**
 * Whether a URL belongs to the OpenAI-compatible routes, for the answers given outside their
 * plugin (unknown routes, unparseable URLs), which must take OpenAI's shape too.
 */
export function isOpenAiPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return (
    path === '/v1/models' ||
    path.startsWith('/v1/models/') ||
    path === '/v1/chat/completions' ||
    path.startsWith('/v1/chat/completions/') ||
    path === '/v1/responses' ||
    path.startsWith('/v1/responses/')
  );
}

/** The error handler of the OpenAI routes: the global one's mapping and logging, OpenAI's body. */
export function openAiErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const apiError = toApiError(error);
  logApiError(request, apiError, error);
  return reply.headers(apiError.headers).status(apiError.status).send(openAiErrorBody(apiError));
}
