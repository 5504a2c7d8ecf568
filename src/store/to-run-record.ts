import type { Selectable } from 'kysely';
import type { ErrorCode } from '../core/error-codes.js';
import type { FinishReason, Usage } from '../core/events.js';
import type { RunStatus } from '../core/runs.js';
import type { RunRecord, RunState } from './run-store.js';
import type { Database } from './schema.js';

const epochMs = (v: number | string | null): number | null => (v === null ? null : Number(v));

/** A `runs` row as the RunStore returns it: JSON parsed, epoch ms as numbers, flags as booleans. */
export function toRunRecord(row: Selectable<Database['runs']>): RunRecord {
  const toolCalls = JSON.parse(row.tool_calls) as RunRecord['tool_calls'];
  return {
    id: row.id,
    session_id: row.session_id,
    owner: row.owner,
    // Only the store writes these columns, from the typed NewRun and RunOutcome.
    status: row.status as RunStatus,
    error: row.error_code === null ? null : { code: row.error_code as ErrorCode, message: row.error_message ?? '' },
    reply: row.reply,
    // JSON drops a key whose value is undefined (a call without a result yet); put it back.
    tool_calls: toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: c.arguments, result: c.result })),
    usage: row.usage === null ? null : (JSON.parse(row.usage) as Usage),
    finish_reason: row.finish_reason as FinishReason | null,
    created_at: row.created_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    lease_until: epochMs(row.lease_until),
    cancel_requested: Number(row.cancel_requested) !== 0,
    events_expire_at: epochMs(row.events_expire_at),
    events_pruned: Number(row.events_pruned) !== 0,
  };
}

/** The columns of getRunState as the RunStore returns them. */
export function toRunState(row: Pick<Selectable<Database['runs']>, keyof RunState>): RunState {
  return {
    id: row.id,
    session_id: row.session_id,
    owner: row.owner,
    status: row.status as RunStatus,
    lease_until: epochMs(row.lease_until),
    events_pruned: Number(row.events_pruned) !== 0,
  };
}
