// Browser-safe: the registry is plain data with no imports.
import { errorRegistry, isErrorCode, type ErrorCode } from '../core/error-codes.js';

/**
 * One error class per failure a caller handles differently. Each carries the service's stable
 * `code`, the HTTP `status` (0 when there was no response) and the `requestId` to quote in a
 * bug report.
 */
export class AgentApiError extends Error {
  override name = 'AgentApiError';
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
    readonly requestId: string | undefined,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** 401: missing or unknown API key; 403: a key that may not do that (admin routes). */
export class AuthenticationError extends AgentApiError {
  override name = 'AuthenticationError';
}
/** 400/413/415: the request was refused as invalid; `details` names the fields. */
export class ValidationError extends AgentApiError {
  override name = 'ValidationError';
}
/** 404: no such session or run for this key (or no such route). */
export class NotFoundError extends AgentApiError {
  override name = 'NotFoundError';
}
/**
 * 410 run_events_expired: the run exists but its event log was pruned (`RUN_EVENTS_TTL_S` after it
 * ended), so it cannot be followed; its outcome is still at `runs.get()`. A NotFoundError too, for
 * code that only asks whether there is anything to read.
 */
export class RunEventsExpiredError extends NotFoundError {
  override name = 'RunEventsExpiredError';
}
/** 409 session_busy: the session is still answering an earlier message. */
export class SessionBusyError extends AgentApiError {
  override name = 'SessionBusyError';
}
/** 429: rate limited, or the key's token budget is used up (`budget_exceeded`). */
export class RateLimitError extends AgentApiError {
  override name = 'RateLimitError';
}
/** 503 model_not_configured: the service runs but has no model. */
export class NotConfiguredError extends AgentApiError {
  override name = 'NotConfiguredError';
}
/** 502/504, or an `error` event mid-stream: the model provider failed or timed out. */
export class UpstreamError extends AgentApiError {
  override name = 'UpstreamError';
}
/** No HTTP answer at all: refused, reset, DNS, or the stream was cut mid-way. */
export class NetworkError extends AgentApiError {
  override name = 'NetworkError';
}

type ErrorClass = new (message: string, code: string, status: number, requestId: string | undefined, details?: unknown) => AgentApiError;

/** Every code the service can answer with → the class a caller catches (the compiler checks it is every code). */
const classByCode = {
  validation_error: ValidationError,
  invalid_json: ValidationError,
  payload_too_large: ValidationError,
  unsupported_media_type: ValidationError,
  unauthorized: AuthenticationError,
  forbidden: AuthenticationError,
  admin_disabled: AuthenticationError,
  route_not_found: NotFoundError,
  key_not_found: NotFoundError,
  session_not_found: NotFoundError,
  session_busy: SessionBusyError,
  run_not_found: NotFoundError,
  model_not_found: NotFoundError,
  request_timeout: AgentApiError,
  session_agent_mismatch: AgentApiError,
  cancelled: AgentApiError,
  run_events_expired: RunEventsExpiredError,
  interrupted: AgentApiError,
  rate_limited: RateLimitError,
  upstream_rate_limited: RateLimitError,
  budget_exceeded: RateLimitError,
  internal_error: AgentApiError,
  upstream_error: UpstreamError,
  upstream_timeout: UpstreamError,
  model_not_configured: NotConfiguredError,
  not_ready: AgentApiError,
  shutting_down: AgentApiError,
} as const satisfies Record<ErrorCode, ErrorClass>;

const codes = Object.keys(errorRegistry) as ErrorCode[];

/**
 * For an answer not in the service's error shape (a proxy, a load balancer), derived from the
 * registry: the class of the first (most general) code with that status, and that code when it is
 * the only one with that status (else `http_<status>`).
 */
function byStatus(status: number): { cls: ErrorClass; code: string } {
  const same = codes.filter((code) => errorRegistry[code].status === status);
  const [first] = same;
  return { cls: first ? classByCode[first] : AgentApiError, code: same.length === 1 && first ? first : `http_${status}` };
}

/** The typed error for a code, whatever its source (a JSON error body, or an `error` event mid-stream). */
export function errorForCode(code: string, message: string, status: number, requestId: string | undefined, details?: unknown): AgentApiError {
  const cls: ErrorClass = isErrorCode(code) ? classByCode[code] : byStatus(status).cls;
  return new cls(message, code, status, requestId, details);
}

/** The HTTP status the registry gives a code (an `error` event arrives on a 200 stream). */
export function statusOfCode(code: string): number {
  return isErrorCode(code) ? errorRegistry[code].status : 502;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

export function isAbortError(err: unknown): boolean {
  return isObject(err) && err['name'] === 'AbortError';
}

/** The message of an error and of its causes ("fetch failed: connect ECONNREFUSED …"). */
export function describeCause(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const text = e instanceof Error ? e.message : typeof e === 'string' ? e : JSON.stringify(e);
    if (text && !parts.includes(text)) parts.push(text);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ') || 'unknown error';
}

export function networkError(message: string, cause: unknown, requestId?: string): NetworkError {
  const error = new NetworkError(message, 'network_error', 0, requestId);
  if (cause !== undefined) error.cause = cause;
  return error;
}

/** Builds the typed error for a non-2xx response; reads (consumes) the body. */
export async function errorFromResponse(res: Response): Promise<AgentApiError> {
  const headerId = res.headers.get('x-request-id') ?? undefined;
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* the body is only a detail here */
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = isObject(body) && isObject(body['error']) ? body['error'] : undefined;
  if (error && typeof error['code'] === 'string' && typeof error['message'] === 'string') {
    const requestId = typeof error['request_id'] === 'string' ? error['request_id'] : headerId;
    return errorForCode(error['code'], error['message'], res.status, requestId, error['details']);
  }
  const { cls, code } = byStatus(res.status);
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  const message = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${snippet ? `: ${snippet}` : ''}`;
  return new cls(message, code, res.status, headerId);
}
