/** One run's token usage, as the ledger keeps it. */
export interface UsageRecord {
  run_id: string;
  /** The hex sha256 of the caller's key. */
  owner: string;
  /** null: a run without a stored session. */
  session_id: string | null;
  agent: string;
  /** null: an agent whose model is not known by name. */
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  created_at: string;
}

export const USAGE_GROUPS = ['day', 'session', 'model', 'agent', 'key'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

export interface UsageQuery {
  /** Only this owner's runs; absent: every owner's (the admin's view). */
  owner?: string | undefined;
  /** Only runs made with this managed key. */
  keyId?: string | undefined;
  /** ISO-8601 (UTC, as `toISOString` writes it): runs from `from` included to `to` excluded. */
  from: string;
  to: string;
  groupBy: UsageGroup;
  /** Most groups returned (in order of the group's value); the totals count them all. */
  limit: number;
}

export interface UsageTotals {
  runs: number;
  input_tokens: number;
  output_tokens: number;
}

/**
 * A group's value: the UTC day (YYYY-MM-DD), session id, model, agent, or the key: a managed key's id,
 * else `env:` and the first 12 hex digits of the key's SHA-256 (VALID_API_KEYS, ADMIN_API_KEY). null: none.
 */
export type UsageRow = UsageTotals & { group: string | null };

/** The usage ledger: every run's tokens, with its owner, managed key, session, agent and model. */
export interface UsageStore {
  /**
   * Records a run's usage once (a second record of the same run is ignored), under the managed key
   * whose hash is the owner if there is one, whose `tokens_used` it adds to.
   */
  recordUsage(record: UsageRecord): Promise<void>;
  usage(query: UsageQuery): Promise<{ rows: UsageRow[]; total: UsageTotals }>;
}
