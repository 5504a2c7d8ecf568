import type { Run } from '../core/runs.js';
import type { RunRecord } from '../store/run-store.js';

/** A stored run as clients see it: the owner, lease and log bookkeeping stay inside. */
export function runJson(r: RunRecord): Run {
  return {
    id: r.id,
    session_id: r.session_id,
    status: r.status,
    error: r.error,
    reply: r.reply,
    tool_calls: r.tool_calls,
    usage: r.usage,
    finish_reason: r.finish_reason,
    created_at: r.created_at,
    started_at: r.started_at,
    finished_at: r.finished_at,
  };
}
