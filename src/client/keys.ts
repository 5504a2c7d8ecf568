import type { Transport } from './transport.js';
import type { CreatedKey, KeyList, ManagedKey } from './types.js';

/** A key's limits: null clears one (no per-key rate limit, no budget). */
export interface KeyLimits {
  rate_limit_per_minute?: number | null;
  token_budget?: number | null;
}

/** `/admin/keys`: managed keys. The client's key must be the service's ADMIN_API_KEY. */
export class Keys {
  constructor(private readonly http: Transport) {}

  /** The new key is in `key`, this once: the service keeps only its hash. */
  async create(body: { name: string } & KeyLimits, options: { signal?: AbortSignal } = {}): Promise<CreatedKey> {
    const res = await this.http.request('POST', '/admin/keys', { body, signal: options.signal });
    return this.http.json<CreatedKey>(res, options.signal);
  }

  async list(options: { signal?: AbortSignal } = {}): Promise<ManagedKey[]> {
    const res = await this.http.request('GET', '/admin/keys', { signal: options.signal });
    return (await this.http.json<KeyList>(res, options.signal)).data;
  }

  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<ManagedKey> {
    const res = await this.http.request('GET', `/admin/keys/${encodeURIComponent(id)}`, { signal: options.signal });
    return this.http.json<ManagedKey>(res, options.signal);
  }

  /** Changes the name or limits; fields left out stay. */
  async update(id: string, changes: { name?: string } & KeyLimits, options: { signal?: AbortSignal } = {}): Promise<ManagedKey> {
    const res = await this.http.request('PATCH', `/admin/keys/${encodeURIComponent(id)}`, { body: changes, signal: options.signal });
    return this.http.json<ManagedKey>(res, options.signal);
  }

  /** Refused on every worker and replica from the next request on. */
  async revoke(id: string, options: { signal?: AbortSignal } = {}): Promise<ManagedKey> {
    const res = await this.http.request('DELETE', `/admin/keys/${encodeURIComponent(id)}`, { signal: options.signal });
    return this.http.json<ManagedKey>(res, options.signal);
  }
}
