import { AgentApiError, describeCause, errorFromResponse, isAbortError, networkError } from './errors.js';

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined>;
  signal?: AbortSignal | undefined;
  accept?: string;
  headers?: Record<string, string>;
}

/** HTTP for every resource of the client: the key, the base URL, and failures as typed errors. */
export class Transport {
  private readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly apiKey: string,
    private readonly fetchImpl: typeof fetch,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** Sends one request; throws the typed error for a non-2xx answer, NetworkError if none came. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { ...options.headers, 'X-API-Key': this.apiKey, Accept: options.accept ?? 'application/json' };
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
      throw networkError(`Could not reach ${url}: ${describeCause(err)}`, err);
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  /** The body as JSON; the wire type is the caller's to name. */
  async json<T>(res: Response, signal: AbortSignal | undefined): Promise<T> {
    const requestId = res.headers.get('x-request-id') ?? undefined;
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (isAbortError(err)) throw err;
      throw networkError(`The response was cut: ${describeCause(err)}`, err, requestId);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new AgentApiError(`Expected JSON, got: ${text.slice(0, 200)}`, 'invalid_response', res.status, requestId);
    }
  }

  private url(path: string, query?: RequestOptions['query']): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }
}
