import type { FinishReason, Usage } from '../core/events.js';
import type { RunStatus } from '../core/runs.js';
import type { ErrorCode } from '../core/error-codes.js';

/** A run as the store keeps it (the owner is stored, never shown to clients). */
export interface RunRecord {
  id: string;
  /** null for a turn that stores nothing (history supplied by the request). */
  session_id: string | null;
  owner: string;
  status: RunStatus;
  error: { code: ErrorCode; message: string } | null;
  reply: string;
  tool_calls: Array<{ id: string; name: string; arguments: unknown; result: unknown }>;
  usage: Usage | null;
  /** Why it ended; null while it runs. */
  finish_reason: FinishReason | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Until when the process running it vouches for it (ms since epoch); past this a live status means that process died. */
  lease_until: number | null;
  cancel_requested: boolean;
  /** When its event log may be pruned (ms since epoch); null while it runs. */
  events_expire_at: number | null;
  /** Its event log has been pruned: reading it is `run_events_expired`. */
  events_pruned: boolean;
}

/** What following a run needs of it: its record without the reply and tool calls (a long reply is megabytes). */
export type RunState = Pick<RunRecord, 'id' | 'session_id' | 'owner' | 'status' | 'lease_until' | 'events_pruned'>;

export interface NewRun {
  id: string;
  session_id: string | null;
  owner: string;
  status: Extract<RunStatus, 'queued' | 'running'>;
  created_at: string;
  started_at: string | null;
  lease_until: number;
}

export interface RunOutcome {
  status: Extract<RunStatus, 'completed' | 'failed' | 'cancelled' | 'interrupted'>;
  error: RunRecord['error'];
  reply: string;
  tool_calls: RunRecord['tool_calls'];
  usage: Usage | null;
  finish_reason: FinishReason;
  finished_at: string;
  events_expire_at: number;
}

/** One event of a run's log: its sequence number (1, 2, 3… per run) and its JSON. */
export interface LoggedEvent {
  seq: number;
  data: string;
}

/**
 * The run registry and each run's event log, shared by every worker and replica using the same
 * database. Owners are opaque ids; a run read with another owner does not exist.
 */
export interface RunStore {
  createRun(run: NewRun): Promise<void>;
  getRun(id: string, owner: string): Promise<RunRecord | undefined>;
  /** The run's state, as getRun has it, without what it said: every follower of a run reads this. */
  getRunState(id: string, owner: string): Promise<RunState | undefined>;
  /** A session's runs, newest first; `before` is the `runCursor` of the previous page's last run. */
  listRuns(sessionId: string, owner: string, options: { limit: number; before?: string | undefined }): Promise<RunRecord[]>;
  /**
   * Records the end of a run, once, and appends `events` (the last of its log, `end` included) with
   * it: false, and nothing appended, if it had already ended (another process marked it).
   */
  finishRun(id: string, outcome: RunOutcome, events?: readonly LoggedEvent[]): Promise<boolean>;
  /** Extends the lease of runs this process is running. */
  renewRuns(ids: readonly string[], until: number): Promise<void>;
  /** Asks whichever process runs it to cancel it; false if the run has already ended. */
  requestCancel(id: string, owner: string): Promise<boolean>;
  /** Of these runs, the ones somebody asked to cancel. */
  cancelRequested(ids: readonly string[]): Promise<string[]>;
  /** Runs still queued or running whose lease ran out before `now`: their process is gone. */
  staleRuns(now: number, limit: number): Promise<RunRecord[]>;
  appendRunEvents(runId: string, events: readonly LoggedEvent[]): Promise<void>;
  /** Events with seq above `after`, in order, at most `limit`. */
  readRunEvents(runId: string, after: number, limit: number): Promise<LoggedEvent[]>;
  lastRunEventSeq(runId: string): Promise<number>;
  /** Deletes the logs of runs whose `events_expire_at` has passed; returns how many runs' logs went. */
  pruneRunEvents(now: number, limit: number): Promise<number>;
}

/** The `listRuns` cursor for the page after `last` (created_at, then id, so ties page exactly). */
export function runCursor(last: Pick<RunRecord, 'created_at' | 'id'>): string {
  return `${last.created_at}~${last.id}`;
}

/** Splits a cursor from `runCursor`; a bare created_at (no id) means "created strictly earlier". */
export function parseRunCursor(cursor: string): { created_at: string; id?: string } {
  const i = cursor.indexOf('~');
  return i < 0 ? { created_at: cursor } : { created_at: cursor.slice(0, i), id: cursor.slice(i + 1) };
}

/**
 * What a backend may add to the store to make runs faster across processes than polling: a way to
 * wait for a run's next events, and cancel requests delivered as messages. The run service uses
 * them when the store has them (Redis) and polls the store otherwise.
 */
export interface RunSignals {
  /** Resolves when run `runId` may have events after `after`, after `timeoutMs` at most, or when `signal` fires. */
  waitForEvents(runId: string, after: number, timeoutMs: number, signal: AbortSignal): Promise<void>;
  /** Tells every process that `runId` should be cancelled (the registry's flag is set as well). */
  publishCancel(runId: string): Promise<void>;
  /** Calls `listener` for every cancel published by any process; returns the unsubscribe. */
  onCancel(listener: (runId: string) => void): () => void;
}

export function hasRunSignals(store: object): store is RunSignals {
  return 'waitForEvents' in store && 'publishCancel' in store && 'onCancel' in store;
}
