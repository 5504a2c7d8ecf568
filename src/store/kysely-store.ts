import type { Kysely, Selectable } from 'kysely';
import type { ChatMessage } from '../agent/messages.js';
import type { Database } from './schema.js';
import { parseSessionCursor, type SessionInfo, type Store, type StoredMessage } from './store.js';

type SessionRow = Selectable<Database['sessions']>;

const iso = (ms = Date.now()) => new Date(ms).toISOString();

function toInfo(row: Pick<SessionRow, 'id' | 'title' | 'message_count' | 'created_at' | 'updated_at'>): SessionInfo {
  return {
    id: row.id,
    title: row.title,
    message_count: Number(row.message_count),
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

const infoColumns = ['id', 'title', 'message_count', 'created_at', 'updated_at'] as const;

/** One implementation for SQLite and Postgres: every query here is portable SQL. */
export class KyselyStore implements Store {
  constructor(private readonly db: Kysely<Database>) {}

  async openSession(id: string, owner: string, title: string): Promise<SessionInfo | undefined> {
    const now = iso();
    // Insert-or-ignore then read: two keys racing for a new id cannot both win it.
    await this.db
      .insertInto('sessions')
      .values({ id, owner, title, message_count: 0, busy_until: null, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return this.getSession(id, owner);
  }

  async getSession(id: string, owner: string): Promise<SessionInfo | undefined> {
    const row = await this.db.selectFrom('sessions').select(infoColumns).where('id', '=', id).where('owner', '=', owner).executeTakeFirst();
    return row && toInfo(row);
  }

  async listSessions(owner: string, { limit, before }: { limit: number; before?: string | undefined }): Promise<SessionInfo[]> {
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
      // Bumping the counter first takes the row lock in Postgres, so concurrent appends serialise.
      const row = await tx
        .updateTable('sessions')
        .set((eb) => ({ message_count: eb('message_count', '+', messages.length), updated_at: now }))
        .where('id', '=', sessionId)
        .returning('message_count')
        .executeTakeFirst();
      if (!row) throw new Error(`session ${sessionId} does not exist`);
      const first = Number(row.message_count) - messages.length;
      await tx
        .insertInto('messages')
        .values(messages.map((m, i) => ({ session_id: sessionId, seq: first + i, role: m.role, data: JSON.stringify(m), created_at: now })))
        .execute();
    });
  }

  async recentMessages(sessionId: string, limit: number): Promise<ChatMessage[]> {
    if (limit <= 0) return [];
    const rows = await this.db
      .selectFrom('messages')
      .select('data')
      .where('session_id', '=', sessionId)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.reverse().map((r) => JSON.parse(r.data) as ChatMessage);
  }

  async listMessages(sessionId: string, { after, limit }: { after?: number; limit: number }): Promise<StoredMessage[]> {
    let q = this.db.selectFrom('messages').select(['seq', 'data', 'created_at']).where('session_id', '=', sessionId);
    if (after !== undefined) q = q.where('seq', '>', after);
    const rows = await q.orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), created_at: r.created_at, message: JSON.parse(r.data) as ChatMessage }));
  }

  async claimRun(sessionId: string, until: number): Promise<boolean> {
    const now = iso();
    const res = await this.db
      .updateTable('sessions')
      .set({ busy_until: iso(until) })
      .where('id', '=', sessionId)
      .where((eb) => eb.or([eb('busy_until', 'is', null), eb('busy_until', '<', now)]))
      .executeTakeFirst();
    return res.numUpdatedRows > 0n;
  }

  async extendRun(sessionId: string, until: number): Promise<void> {
    await this.db.updateTable('sessions').set({ busy_until: iso(until) }).where('id', '=', sessionId).execute();
  }

  async releaseRun(sessionId: string): Promise<void> {
    await this.db.updateTable('sessions').set({ busy_until: null }).where('id', '=', sessionId).execute();
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('sessions').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
