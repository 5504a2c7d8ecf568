import type { Kysely } from 'kysely';
import { precompile } from './precompiled.js';
import type { Database } from './schema.js';

/** The statuses of a run that has not ended; everything that changes a live run filters on them. */
export const LIVE_STATUSES = ['queued', 'running'] as const;

/** Rows per multi-row insert of events: 201 parameters, far below either database's limit. */
export const EVENTS_PER_INSERT = 100;

/**
 * The run queries of the hot path, compiled once (see precompile): every batch of tokens appends
 * events, every reader reads the run and its log.
 */
export function runQueries(db: Kysely<Database>) {
  const insertEvents = new Map<number, ReturnType<typeof precompileInsertEvents>>();
  const precompileInsertEvents = (rows: number) =>
    precompile((a) => db.insertInto('run_events').values(Array.from({ length: rows }, (_, i) => ({ run_id: a(0), seq: a(1 + 2 * i), data: a(2 + 2 * i) }))));
  return {
    createRun: precompile((a) =>
      db.insertInto('runs').values({
        id: a(0),
        session_id: a(1),
        owner: a(2),
        status: a(3),
        error_code: null,
        error_message: null,
        reply: '',
        tool_calls: '[]',
        usage: null,
        finish_reason: null,
        created_at: a(4),
        started_at: a(5),
        finished_at: null,
        lease_until: a(6),
        cancel_requested: 0,
        events_expire_at: null,
        events_pruned: 0,
      }),
    ),
    // (id, owner)
    getRun: precompile((a) => db.selectFrom('runs').selectAll().where('id', '=', a(0)).where('owner', '=', a(1))),
    // (status, error_code, error_message, reply, tool_calls, usage, finished_at, events_expire_at, id).
    // Conditional on a live status, so of two processes ending the same run only one applies.
    // A final run is vouched for by nobody: its lease goes.
    finishRun: precompile((a) =>
      db
        .updateTable('runs')
        .set({
          status: a(0),
          error_code: a(1),
          error_message: a(2),
          reply: a(3),
          tool_calls: a(4),
          usage: a(5),
          finished_at: a(6),
          events_expire_at: a(7),
          finish_reason: a(9),
          lease_until: null,
        })
        .where('id', '=', a(8))
        .where('status', 'in', LIVE_STATUSES),
    ),
    // (id, owner)
    requestCancel: precompile((a) =>
      db.updateTable('runs').set({ cancel_requested: 1 }).where('id', '=', a(0)).where('owner', '=', a(1)).where('status', 'in', LIVE_STATUSES),
    ),
    // (run_id, after, limit)
    readRunEvents: precompile((a) =>
      db.selectFrom('run_events').select(['seq', 'data']).where('run_id', '=', a(0)).where('seq', '>', a(1)).orderBy('seq').limit(a(2)),
    ),
    // (run_id)
    lastRunEventSeq: precompile((a) =>
      db
        .selectFrom('run_events')
        .select((eb) => eb.fn.max('seq').as('last'))
        .where('run_id', '=', a(0)),
    ),
    /** (run_id, seq1, data1, seq2, data2, …): one statement per row count, compiled when first needed. */
    insertEvents(rows: number) {
      let query = insertEvents.get(rows);
      if (!query) insertEvents.set(rows, (query = precompileInsertEvents(rows)));
      return query;
    },
  };
}
