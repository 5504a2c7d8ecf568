import type { Kysely, Selectable } from 'kysely';
import type { ChatMessage } from '../core/messages.js';
import type { Database } from './schema.js';
import { precompile } from './precompiled.js';
import type { SessionSummary } from '../core/sessions.js';
import { parseSessionCursor } from './session-cursor.js';
import type { MessageRecord, Store } from './store.js';

type SessionRow = Selectable<Database['sessions']>;

const iso = (ms = Date.now()) => new Date(ms).toISOString();

function toInfo(row: Pick<SessionRow, 'id' | 'title' | 'message_count' | 'created_at' | 'updated_at'>): SessionSummary {
  return {
    id: row.id,
    title: row.title,
    message_count: Number(row.message_count),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const infoColumns = ['id', 'title', 'message_count', 'created_at', 'updated_at'] as const;

/** The queries every chat turn runs, compiled once (see precompile). */
function turnQueries(db: Kysely<Database>) {
  return {
    // Insert-or-ignore then read: two keys racing for a new id cannot both win it.
    insertSession: precompile((a) =>
      db
        .insertInto('sessions')
        .values({ id: a(0), owner: a(1), title: a(2), message_count: 0, busy_until: null, created_at: a(3), updated_at: a(3) })
        .onConflict((oc) => oc.column('id').doNothing()),
    ),
    getSession: precompile((a) => db.selectFrom('sessions').select(infoColumns).where('id', '=', a(0)).where('owner', '=', a(1))),
    // Bumping the counter first takes the row lock in Postgres, so concurrent appends serialise.
    bumpCount: precompile((a) =>
      db
        .updateTable('sessions')
        .set((eb) => ({ message_count: eb('message_count', '+', a(0)), updated_at: a(1) }))
        .where('id', '=', a(2))
        .returning('message_count'),
    ),
    insertMessage: precompile((a) => db.insertInto('messages').values({ session_id: a(0), seq: a(1), role: a(2), data: a(3), created_at: a(4) })),
    recentMessages: precompile((a) => db.selectFrom('messages').select('data').where('session_id', '=', a(0)).orderBy('seq', 'desc').limit(a(1))),
    claimRun: precompile((a) =>
      db
        .updateTable('sessions')
        .set({ busy_until: a(0) })
        .where('id', '=', a(1))
        .where((eb) => eb.or([eb('busy_until', 'is', null), eb('busy_until', '<', a(2))])),
    ),
    setBusyUntil: precompile((a) =>
      db
        .updateTable('sessions')
        .set({ busy_until: a(0) })
        .where('id', '=', a(1)),
    ),
  };
}

/** One implementation for SQLite and Postgres: every query here is portable SQL. */
export class KyselyStore implements Store {
  private readonly q: ReturnType<typeof turnQueries>;

  constructor(private readonly db: Kysely<Database>) {
    this.q = turnQueries(db);
  }

  async openSession(id: string, owner: string, title: string): Promise<SessionSummary | undefined> {
    await this.q.insertSession(this.db, id, owner, title, iso());
    return this.getSession(id, owner);
  }

  async getSession(id: string, owner: string): Promise<SessionSummary | undefined> {
    const row = (await this.q.getSession(this.db, id, owner)).rows[0];
    return row && toInfo(row);
  }

  async listSessions(owner: string, { limit, before }: { limit: number; before?: string | undefined }): Promise<SessionSummary[]> {
    let q = this.db.selectFrom('sessions').select(infoColumns).where('owner', '=', owner);
    if (before) {
      // Keyset paging on (updated_at desc, id asc): ties on updated_at continue by id.
      const { updated_at, id } = parseSessionCursor(before);
      if (id === undefined) q = q.where('updated_at', '<', updated_at);
      else q = q.where((eb) => eb.or([eb('updated_at', '<', updated_at), eb.and([eb('updated_at', '=', updated_at), eb('id', '>', id)])]));
    }
    const rows = await q.orderBy('updated_at', 'desc').orderBy('id').limit(limit).execute();
    return rows.map(toInfo);
  }

  async deleteSession(id: string, owner: string): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const res = await tx.deleteFrom('sessions').where('id', '=', id).where('owner', '=', owner).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await tx.deleteFrom('messages').where('session_id', '=', id).execute();
      return true;
    });
  }

  async appendMessages(sessionId: string, messages: ChatMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const now = iso();
    await this.db.transaction().execute(async (tx) => {
      const row = (await this.q.bumpCount(tx, messages.length, now, sessionId)).rows[0];
      if (!row) throw new Error(`session ${sessionId} does not exist`);
      const first = Number(row.message_count) - messages.length;
      for (const [i, m] of messages.entries()) await this.q.insertMessage(tx, sessionId, first + i, m.role, JSON.stringify(m), now);
    });
  }

  async recentMessages(sessionId: string, limit: number): Promise<ChatMessage[]> {
    if (limit <= 0) return [];
    const { rows } = await this.q.recentMessages(this.db, sessionId, limit);
    return rows.reverse().map((r) => JSON.parse(r.data) as ChatMessage);
  }

  async listMessages(sessionId: string, { after, limit }: { after?: number; limit: number }): Promise<MessageRecord[]> {
    let q = this.db.selectFrom('messages').select(['seq', 'data', 'created_at']).where('session_id', '=', sessionId);
    if (after !== undefined) q = q.where('seq', '>', after);
    const rows = await q.orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), created_at: r.created_at, message: JSON.parse(r.data) as ChatMessage }));
  }

  async claimRun(sessionId: string, until: number): Promise<boolean> {
    const { numAffectedRows } = await this.q.claimRun(this.db, iso(until), sessionId, iso());
    return (numAffectedRows ?? 0n) > 0n;
  }

  async extendRun(sessionId: string, until: number): Promise<void> {
    await this.q.setBusyUntil(this.db, iso(until), sessionId);
  }

  async releaseRun(sessionId: string): Promise<void> {
    await this.q.setBusyUntil(this.db, null, sessionId);
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('sessions').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
