import type { Kysely } from 'kysely';
import { precompile } from './precompiled.js';
import type { Database } from './schema.js';

/** The statuses of a run that has not ended; everything that changes a live run filters on them. */
export const LIVE_STATUSES = ['queued', 'running'] as const;

/**
 * The run queries of the hot path, compiled once (see precompile): every batch of tokens appends
 * events, every reader reads the run and its log.
 */
export function runQueries(db: Kysely<Database>) {
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
    // (id, owner)
    getRunState: precompile((a) =>
      db.selectFrom('runs').select(['id', 'session_id', 'owner', 'status', 'lease_until', 'events_pruned']).where('id', '=', a(0)).where('owner', '=', a(1)),
    ),
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
    // (run_id, seq, last_seq, data). Refused (nothing inserted) when a batch already logged reaches
    // `seq`: the batch just before `last_seq` is the only one that could overlap, so this is one seek.
    insertBatch: precompile((a) =>
      db
        .insertInto('run_events')
        .columns(['run_id', 'seq', 'last_seq', 'data'])
        .expression(
          db
            .selectNoFrom((eb) => [
              eb.cast<string>(eb.val(a(0)), 'text').as('run_id'),
              eb.cast<number>(eb.val(a(1)), 'integer').as('seq'),
              eb.cast<number>(eb.val(a(2)), 'integer').as('last_seq'),
              eb.cast<string>(eb.val(a(3)), 'text').as('data'),
            ])
            .where((eb) =>
              eb(
                eb.fn.coalesce(
                  db
                    .selectFrom('run_events as prev')
                    .select('prev.last_seq')
                    .where('prev.run_id', '=', a(0))
                    .where('prev.seq', '<=', a(2))
                    .orderBy('prev.seq', 'desc')
                    .limit(1),
                  eb.lit(0),
                ),
                '<',
                a(1),
              ),
            ),
        ),
    ),
    // (run_id, from, to): the batches holding events from..to: the one `from` falls in, then later
    // ones starting by `to` (seqs are consecutive, so nothing past `to` is read).
    readBatches: precompile((a) =>
      db
        .selectFrom('run_events')
        .select(['seq', 'last_seq', 'data'])
        .where('run_id', '=', a(0))
        .where('seq', '>=', (eb) =>
          eb.fn.coalesce(
            eb
              .selectFrom('run_events as first')
              .select('first.seq')
              .where('first.run_id', '=', a(0))
              .where('first.seq', '<=', a(1))
              .orderBy('first.seq', 'desc')
              .limit(1),
            eb.lit(0),
          ),
        )
        .where('seq', '<=', a(2))
        .orderBy('seq'),
    ),
    // (run_id)
    lastRunEventSeq: precompile((a) => db.selectFrom('run_events').select('last_seq').where('run_id', '=', a(0)).orderBy('seq', 'desc').limit(1)),
  };
}
