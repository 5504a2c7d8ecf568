import type { Transport } from './transport.js';
import type { SessionDetail, SessionPage } from './types.js';

/** `/sessions`: the caller's conversations. */
export class Sessions {
  constructor(private readonly http: Transport) {}

  async list(options: { limit?: number; before?: string; signal?: AbortSignal } = {}): Promise<SessionPage> {
    const res = await this.http.request('GET', '/sessions', { query: { limit: options.limit, before: options.before }, signal: options.signal });
    return this.http.json<SessionPage>(res, options.signal);
  }

  async get(id: string, options: { limit?: number; after?: number; signal?: AbortSignal } = {}): Promise<SessionDetail> {
    const res = await this.http.request('GET', `/sessions/${encodeURIComponent(id)}`, {
      query: { limit: options.limit, after: options.after },
      signal: options.signal,
    });
    return this.http.json<SessionDetail>(res, options.signal);
  }

  async delete(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const res = await this.http.request('DELETE', `/sessions/${encodeURIComponent(id)}`, { signal: options.signal });
    await res.body?.cancel().catch(() => {});
  }
}
