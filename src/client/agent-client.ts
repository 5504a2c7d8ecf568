/**
 * The TypeScript client of agent-api, for browsers and Node alike (fetch, TextDecoder,
 * ReadableStream and AbortSignal only; nothing from the server but types).
 */
import type { StreamEvent, Usage } from '../agent/events.js';
import type { ErrorCode } from '../http/errors.js';
import {
  AgentApiError,
  AuthenticationError,
  NetworkError,
  NotConfiguredError,
  NotFoundError,
  RateLimitError,
  SessionBusyError,
  UpstreamError,
  ValidationError,
} from './errors.js';
import { parseSseStream } from './sse-parser.js';

export interface AgentClientOptions {
  /** e.g. 'http://127.0.0.1:8000'; '' (relative URLs) or location.origin in the browser. */
  baseUrl: string;
  apiKey: string;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
}

export interface ChatReply {
  reply: string;
  session_id: string;
  tool_calls: Array<{ id: string; name: string; arguments: unknown; result: unknown }>;
  usage: Usage;
}

export interface SessionSummary {
  id: string;
  title: string | null;
  message_count: number;
  created_at: string;
  updated_at: string;
}

export interface SessionPage {
  sessions: SessionSummary[];
  next_before: string | null;
}

export type StoredMessage = {
  seq: number;
  created_at: string;
  role: 'user' | 'assistant' | 'tool';
  content?: string;
  tool_calls?: Array<{ id: string; name: string; arguments: unknown }>;
  tool_call_id?: string;
  name?: string;
  result?: unknown;
  interrupted?: boolean;
};

export interface SessionDetail extends SessionSummary {
  messages: StoredMessage[];
  next_after: number | null;
}

type ErrorClass = new (message: string, code: string, status: number, requestId: string | undefined, details?: unknown) => AgentApiError;

/** Every code the service can answer with → the class a caller catches. */
const classByCode = {
  validation_error: ValidationError,
  invalid_json: ValidationError,
  payload_too_large: ValidationError,
  unsupported_media_type: ValidationError,
  unauthorized: AuthenticationError,
  route_not_found: NotFoundError,
  session_not_found: NotFoundError,
  session_busy: SessionBusyError,
  rate_limited: RateLimitError,
  internal_error: AgentApiError,
  upstream_error: UpstreamError,
  upstream_timeout: UpstreamError,
  model_not_configured: NotConfiguredError,
  not_ready: AgentApiError,
  shutting_down: AgentApiError,
} as const satisfies Record<ErrorCode, ErrorClass>;

/** For an answer not in the service's error shape (a proxy, a load balancer): class and code by status. */
function byStatus(status: number): { cls: ErrorClass; code: string } {
  switch (status) {
    case 400:
      return { cls: ValidationError, code: 'bad_request' };
    case 401:
      return { cls: AuthenticationError, code: 'unauthorized' };
    case 404:
      return { cls: NotFoundError, code: 'not_found' };
    case 409:
      return { cls: SessionBusyError, code: 'conflict' };
    case 413:
      return { cls: ValidationError, code: 'payload_too_large' };
    case 415:
      return { cls: ValidationError, code: 'unsupported_media_type' };
    case 429:
      return { cls: RateLimitError, code: 'rate_limited' };
    case 502:
      return { cls: UpstreamError, code: 'upstream_error' };
    case 504:
      return { cls: UpstreamError, code: 'upstream_timeout' };
    default:
      return { cls: AgentApiError, code: `http_${status}` };
  }
}

/** Statuses of the codes an `error` event can carry (its HTTP status was 200). */
const streamErrorStatus: Record<string, number> = { upstream_timeout: 504, internal_error: 500, shutting_down: 503 };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function isAbortError(err: unknown): boolean {
  return isObject(err) && (err as { name?: unknown }).name === 'AbortError';
}

/** The message of an error and of its causes ("fetch failed: connect ECONNREFUSED …"). */
function describe(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const text = e instanceof Error ? e.message : String(e);
    if (text && !parts.includes(text)) parts.push(text);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ') || 'unknown error';
}

function networkError(message: string, cause: unknown, requestId?: string): NetworkError {
  const error = new NetworkError(message, 'network_error', 0, requestId);
  if (cause !== undefined) error.cause = cause;
  return error;
}

/** Builds the typed error for a non-2xx response; reads (consumes) the body. */
async function errorFromResponse(res: Response): Promise<AgentApiError> {
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
  const error = isObject(body) && isObject(body.error) ? body.error : undefined;
  if (error && typeof error.code === 'string' && typeof error.message === 'string') {
    const requestId = typeof error.request_id === 'string' ? error.request_id : headerId;
    const cls: ErrorClass = Object.hasOwn(classByCode, error.code) ? classByCode[error.code as ErrorCode] : byStatus(res.status).cls;
    return new cls(error.message, error.code, res.status, requestId, error.details);
  }
  const { cls, code } = byStatus(res.status);
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  const message = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${snippet ? `: ${snippet}` : ''}`;
  return new cls(message, code, res.status, headerId);
}

interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal | undefined;
  accept?: string;
}

export class AgentClient {
  readonly sessions: {
    list(options?: { limit?: number; before?: string; signal?: AbortSignal }): Promise<SessionPage>;
    get(id: string, options?: { limit?: number; after?: number; signal?: AbortSignal }): Promise<SessionDetail>;
    delete(id: string, options?: { signal?: AbortSignal }): Promise<void>;
  };

  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly fetchImpl: typeof fetch;

  constructor(options: AgentClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    // Called unbound, window.fetch throws "Illegal invocation"; look it up per call so it can be replaced.
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.sessions = {
      list: async (opts = {}) => {
        const res = await this.request('GET', '/sessions', { query: { limit: opts.limit, before: opts.before }, signal: opts.signal });
        return (await this.json(res, opts.signal)) as SessionPage;
      },
      get: async (id, opts = {}) => {
        const res = await this.request('GET', `/sessions/${encodeURIComponent(id)}`, { query: { limit: opts.limit, after: opts.after }, signal: opts.signal });
        return (await this.json(res, opts.signal)) as SessionDetail;
      },
      delete: async (id, opts = {}) => {
        const res = await this.request('DELETE', `/sessions/${encodeURIComponent(id)}`, { signal: opts.signal });
        await res.body?.cancel().catch(() => {});
      },
    };
  }

  async chat(message: string, options: { sessionId?: string; signal?: AbortSignal } = {}): Promise<ChatReply> {
    const res = await this.request('POST', '/chat', { body: chatBody(message, options.sessionId), signal: options.signal });
    return (await this.json(res, options.signal)) as ChatReply;
  }

  /**
   * Async iterable of the server's StreamEvent union, `start` first, `end` last. An `error` event is
   * yielded as an event AND then iteration continues to `end`; pass { throwOnError: true } to throw
   * UpstreamError instead. HTTP errors before the stream throw the typed error. Abort via signal ends
   * iteration by throwing the signal's reason (an AbortError DOMException). A stream that stops
   * before `end` throws NetworkError. Leaving the loop early hangs up, which stops the model.
   */
  async *stream(message: string, options: { sessionId?: string; signal?: AbortSignal; throwOnError?: boolean } = {}): AsyncIterable<StreamEvent> {
    const { signal } = options;
    const res = await this.request('POST', '/chat/stream', { body: chatBody(message, options.sessionId), signal, accept: 'text/event-stream' });
    const requestId = res.headers.get('x-request-id') ?? undefined;
    const contentType = res.headers.get('content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('text/event-stream') || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw new AgentApiError(`Expected an event stream, got ${contentType || 'no body'} (HTTP ${res.status})`, 'invalid_response', res.status, requestId);
    }
    let ended = false;
    try {
      for await (const message of parseSseStream(res.body, signal)) {
        if (message.event !== 'message') continue;
        let event: StreamEvent;
        try {
          event = JSON.parse(message.data) as StreamEvent;
        } catch {
          throw new AgentApiError(`The stream sent an event that is not JSON: ${message.data.slice(0, 200)}`, 'invalid_response', res.status, requestId);
        }
        if (event.type === 'error' && options.throwOnError) {
          throw new UpstreamError(event.message, event.code, streamErrorStatus[event.code] ?? 502, requestId);
        }
        yield event;
        if (event.type === 'end') {
          ended = true;
          return;
        }
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (err instanceof AgentApiError || isAbortError(err)) throw err;
      throw networkError(`The stream was cut: ${describe(err)}`, err, requestId);
    }
    if (!ended) throw networkError('The stream ended before its end event (the connection was cut)', undefined, requestId);
  }

  private url(path: string, query?: RequestOptions['query']): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Sends one request; throws the typed error for a non-2xx answer, NetworkError if none came. */
  private async request(method: string, path: string, options: RequestOptions): Promise<Response> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { 'X-API-Key': this.apiKey, Accept: options.accept ?? 'application/json' };
    const init: RequestInit = { method, headers };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    if (options.signal) init.signal = options.signal;
    let res: Response;
    try {
      res = await this.fetchImpl(url, init);
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (isAbortError(err)) throw err;
      throw networkError(`Could not reach ${url}: ${describe(err)}`, err);
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  private async json(res: Response, signal: AbortSignal | undefined): Promise<unknown> {
    const requestId = res.headers.get('x-request-id') ?? undefined;
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (isAbortError(err)) throw err;
      throw networkError(`The response was cut: ${describe(err)}`, err, requestId);
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new AgentApiError(`Expected JSON, got: ${text.slice(0, 200)}`, 'invalid_response', res.status, requestId);
    }
  }
}

function chatBody(message: string, sessionId: string | undefined): { message: string; session_id?: string } {
  return sessionId === undefined ? { message } : { message, session_id: sessionId };
}
