import type { ColumnType } from 'kysely';

/**
 * A moment as ms since epoch (or null), in a BIGINT column: node-postgres returns BIGINT as a
 * string (it may exceed a double), better-sqlite3 as a number, so reads go through Number().
 */
type EpochMsOrNull = ColumnType<number | string | null, number | null, number | null>;

/**
 * Kysely's view of the tables. Timestamps shown to clients are ISO-8601 text, so SQLite and
 * Postgres sort them alike; the run lease and log expiry, compared with `Date.now()`, are epoch ms.
 * Flags are integers 0/1: SQLite has no boolean, and better-sqlite3 cannot bind one.
 */
export interface Database {
  /** Keyed by (owner, id) since migration 003: session ids are per owner. */
  sessions: {
    owner: string;
    id: string;
    title: string | null;
    message_count: number;
    /** The claim's expiry (ISO text, from migration 001); null when nobody holds it. */
    busy_until: string | null;
    /** The run holding the claim (migration 002): renew and release are fenced by it. */
    lease_token: string | null;
    /** The agent it belongs to (migration 005); null: the default agent (sessions from before). */
    agent: string | null;
    created_at: string;
    updated_at: string;
  };
  messages: {
    owner: string;
    session_id: string;
    seq: number;
    role: string;
    data: string;
    created_at: string;
  };
  runs: {
    id: string;
    session_id: string | null;
    owner: string;
    status: string;
    error_code: string | null;
    error_message: string | null;
    reply: string;
    /** JSON text. */
    tool_calls: string;
    /** JSON text. */
    usage: string | null;
    /** Since migration 003. */
    finish_reason: string | null;
    created_at: string;
    started_at: string | null;
    finished_at: string | null;
    lease_until: EpochMsOrNull;
    cancel_requested: number;
    events_expire_at: EpochMsOrNull;
    events_pruned: number;
  };
  /** Since migration 003, one row per write: events `seq`..`last_seq`, their JSON one per line. */
  run_events: {
    run_id: string;
    seq: number;
    last_seq: number;
    data: string;
  };
  /** Managed API keys (migration 006): the key's hash, never the key. */
  api_keys: {
    id: string;
    name: string;
    key_hash: string;
    created_at: string;
    last_used_at: string | null;
    revoked_at: string | null;
    rate_limit_per_minute: number | null;
    /** BIGINT: a string from node-postgres, as for the epoch columns. */
    token_budget: ColumnType<number | string | null, number | null, number | null>;
    tokens_used: ColumnType<number | string, number | undefined, number>;
  };
  /** The usage ledger (migration 006): one row per run. */
  usage_ledger: {
    run_id: string;
    owner: string;
    key_id: string | null;
    session_id: string | null;
    agent: string;
    model: string | null;
    input_tokens: number;
    output_tokens: number;
    created_at: string;
  };
}
