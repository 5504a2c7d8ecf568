import type { Kysely } from 'kysely';
import { precompile } from './precompiled.js';
import type { Database } from './schema.js';

/** What a session summary is built from: its columns plus the claim, for `active_run_id`. */
export const summaryColumns = ['id', 'title', 'message_count', 'created_at', 'updated_at', 'lease_token', 'busy_until', 'agent'] as const;

/**
 * The session queries every chat turn runs, compiled once (see precompile). A claim's expiry is
 * ISO text (`busy_until`, from migration 001), so `now` arguments are ISO text too.
 */
export function sessionQueries(db: Kysely<Database>) {
  return {
    // (id, owner, title, now, agent). Insert-or-ignore then read: two requests racing to open a new id both get the one session.
    insertSession: precompile((a) =>
      db
        .insertInto('sessions')
        .values({ owner: a(1), id: a(0), title: a(2), message_count: 0, busy_until: null, lease_token: null, agent: a(4), created_at: a(3), updated_at: a(3) })
        .onConflict((oc) => oc.columns(['owner', 'id']).doNothing()),
    ),
    getSession: precompile((a) => db.selectFrom('sessions').select(summaryColumns).where('owner', '=', a(1)).where('id', '=', a(0))),
    // (count, now, id, owner). Bumping the counter first takes the row lock in Postgres, so concurrent appends serialise.
    bumpCount: precompile((a) =>
      db
        .updateTable('sessions')
        .set((eb) => ({ message_count: eb('message_count', '+', a(0)), updated_at: a(1) }))
        .where('owner', '=', a(3))
        .where('id', '=', a(2))
        .returning('message_count'),
    ),
    // (id, owner, seq, role, data, now)
    insertMessage: precompile((a) => db.insertInto('messages').values({ owner: a(1), session_id: a(0), seq: a(2), role: a(3), data: a(4), created_at: a(5) })),
    // (id, owner, limit)
    recentMessages: precompile((a) =>
      db.selectFrom('messages').select('data').where('owner', '=', a(1)).where('session_id', '=', a(0)).orderBy('seq', 'desc').limit(a(2)),
    ),
    // (until, token, id, owner, now). The holder may claim again: a retried claim whose answer was lost still wins.
    claimSession: precompile((a) =>
      db
        .updateTable('sessions')
        .set({ busy_until: a(0), lease_token: a(1) })
        .where('owner', '=', a(3))
        .where('id', '=', a(2))
        .where((eb) => eb.or([eb('busy_until', 'is', null), eb('busy_until', '<', a(4)), eb('lease_token', '=', a(1))])),
    ),
    // (until, id, owner, token). Fenced by the token alone: a lapsed claim nobody took is still the holder's.
    renewSession: precompile((a) =>
      db
        .updateTable('sessions')
        .set({ busy_until: a(0) })
        .where('owner', '=', a(2))
        .where('id', '=', a(1))
        .where('lease_token', '=', a(3)),
    ),
    // (id, owner, token)
    releaseSession: precompile((a) =>
      db.updateTable('sessions').set({ busy_until: null, lease_token: null }).where('owner', '=', a(1)).where('id', '=', a(0)).where('lease_token', '=', a(2)),
    ),
    // (id, owner, now)
    sessionClaim: precompile((a) =>
      db
        .selectFrom('sessions')
        .select(['lease_token', 'busy_until'])
        .where('owner', '=', a(1))
        .where('id', '=', a(0))
        .where('lease_token', 'is not', null)
        .where('busy_until', '>=', a(2)),
    ),
  };
}
