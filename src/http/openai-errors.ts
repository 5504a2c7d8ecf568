import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { toApiError } from './error-handler.js';
import type { ApiError, ErrorCode } from './errors.js';

/**
 * Errors of the OpenAI-compatible routes in OpenAI's own shape, `{"error":{message,type,code,param}}`,
 * with the same statuses as the rest of the API, so the official SDKs raise their typed errors
 * (401 AuthenticationError, 400 BadRequestError, 404 NotFoundError, 409 ConflictError,
 * 429 RateLimitError, 5xx InternalServerError).
 */
export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

export const OpenAiErrorResponse = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().describe('invalid_request_error, rate_limit_error or server_error'),
      code: z.string().nullable().describe('Stable machine-readable code (ours, but invalid_api_key and invalid_request_error as OpenAI names them)'),
      param: z.string().nullable(),
    }),
  })
  .describe('Error (OpenAI shape)');

/** Our codes renamed where OpenAI has a well-known name for the same thing. */
const OPENAI_CODES: Partial<Record<ErrorCode, string>> = {
  unauthorized: 'invalid_api_key',
  validation_error: 'invalid_request_error',
  invalid_json: 'invalid_request_error',
  rate_limited: 'rate_limit_exceeded',
};

function typeOf(status: number): string {
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
    error: { message: error.message, type: typeOf(error.status), code: OPENAI_CODES[error.code] ?? error.code, param: paramOf(error.details) },
  };
}

/** Whether a URL belongs to the OpenAI-compatible routes (so its errors take OpenAI's shape). */
export function isOpenAiPath(url: string): boolean {
  const path = url.split('?')[0] ?? '';
  return path === '/v1/models' || path.startsWith('/v1/models/') || path === '/v1/chat/completions' || path.startsWith('/v1/chat/completions/');
}

/** The error handler of the OpenAI routes: the global one's mapping and logging, OpenAI's body. */
export function openAiErrorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const apiError = toApiError(error);
  if (apiError.status >= 500 && apiError.code === 'internal_error') request.log.error({ err: error }, 'unhandled error');
  else if (apiError.status >= 500) request.log.warn({ code: apiError.code, err: error }, apiError.message);
  return reply.status(apiError.status).send(openAiErrorBody(apiError));
}
