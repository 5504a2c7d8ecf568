/** A managed API key as the store keeps it: never the key itself, only its hash (the owner id). */
export interface ApiKeyRecord {
  id: string;
  name: string;
  /** The hex sha256 of the key: the owner of its sessions, runs and usage. */
  key_hash: string;
  created_at: string;
  /** Updated at most about once a minute per key, not on every request. */
  last_used_at: string | null;
  revoked_at: string | null;
  /** Overrides RATE_LIMIT_PER_MINUTE for this key; null: the service's. */
  rate_limit_per_minute: number | null;
  /** Tokens (input + output) the key may use in all; null: no budget. */
  token_budget: number | null;
  /** Tokens its runs used, kept by `recordUsage`. */
  tokens_used: number;
}

export type NewApiKey = Omit<ApiKeyRecord, 'last_used_at' | 'revoked_at' | 'tokens_used'>;

/** What an admin may change of a key: a field left out stays; null clears a limit. */
export type KeyChanges = Partial<Pick<ApiKeyRecord, 'name' | 'rate_limit_per_minute' | 'token_budget'>>;

/**
 * Managed keys, shared by every worker and replica on the database. There is no cache in front of
 * `keyByHash`: a revoke is seen by the very next request anywhere.
 */
export interface KeyStore {
  createKey(key: NewApiKey): Promise<ApiKeyRecord>;
  /** The key with this hash, revoked or not: one indexed lookup, made for each request with a managed key. */
  keyByHash(keyHash: string): Promise<ApiKeyRecord | undefined>;
  getKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Oldest first. */
  listKeys(): Promise<ApiKeyRecord[]>;
  /** Revokes the key at `at` (a key revoked before keeps its time); undefined for an unknown id. */
  revokeKey(id: string, at: string): Promise<ApiKeyRecord | undefined>;
  /** Changes the key's name or limits (a budget raised takes effect on its next run); undefined for an unknown id. */
  updateKey(id: string, changes: KeyChanges): Promise<ApiKeyRecord | undefined>;
  /** Records that the key was used at `at`. */
  touchKey(id: string, at: string): Promise<void>;
}
