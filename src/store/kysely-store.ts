import { sql, type Kysely, type Selectable } from 'kysely';
import type { ChatMessage } from '../core/messages.js';
import type { SessionSummary } from '../core/sessions.js';
import { LIVE_STATUSES, runQueries } from './run-queries.js';
import { parseRunCursor, type LoggedEvent, type NewRun, type RunOutcome, type RunRecord, type RunState, type RunStore } from './run-store.js';
import type { Database } from './schema.js';
import { parseSessionCursor } from './session-cursor.js';
import { sessionQueries, summaryColumns } from './session-queries.js';
import type { MessageRecord, Store } from './store.js';
import { keyByHashQuery, keyQueries } from './key-queries.js';
import type { ApiKeyRecord, KeyChanges, KeyStore, NewApiKey } from './key-store.js';
import { usageQueries, usageRecorder } from './usage-queries.js';
import type { UsageQuery, UsageRecord, UsageRow, UsageStore, UsageTotals } from './usage-store.js';
import { toRunRecord, toRunState } from './to-run-record.js';

type SessionRow = Selectable<Database['sessions']>;

const iso = (ms = Date.now()) => new Date(ms).toISOString();

/** Epoch ms as a BIGINT parameter: Postgres rejects a fraction ('1.5' is not a bigint). */
const epochMs = (ms: number) => Math.floor(ms);

/**
 * The live statuses as SQL literals, for queries the partial index runs_live_lease serves: SQLite
 * uses a partial index only if it can tell the query's WHERE implies the index's, and a bound
 * parameter's value is unknown when the statement is prepared.
 */
const LIVE_STATUS_LITERALS = LIVE_STATUSES.map((s) => sql.lit(s));

/** IN lists are split so that no statement nears either database's parameter limit. */
const IDS_PER_QUERY = 500;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Events as rows of `run_events`: each run of consecutive seqs is one row, its events one JSON per
 * line (JSON.stringify never writes a raw newline; anything else is rewritten so it holds one line).
 */
function toBatches(events: readonly LoggedEvent[]): Array<{ seq: number; last_seq: number; data: string }> {
  const out: Array<{ seq: number; last_seq: number; lines: string[] }> = [];
  for (const e of events) {
    const line = e.data.includes('\n') ? JSON.stringify(JSON.parse(e.data)) : e.data;
    const last = out.at(-1);
    if (last && e.seq === last.last_seq + 1) {
      last.last_seq = e.seq;
      last.lines.push(line);
    } else out.push({ seq: e.seq, last_seq: e.seq, lines: [line] });
  }
  return out.map((b) => ({ seq: b.seq, last_seq: b.last_seq, data: b.lines.join('\n') }));
}

function toSummary(row: Pick<SessionRow, (typeof summaryColumns)[number]>, now: string): SessionSummary {
  return {
    id: row.id,
    title: row.title,
    message_count: Number(row.message_count),
    created_at: row.created_at,
    updated_at: row.updated_at,
    active_run_id: row.lease_token !== null && row.busy_until !== null && row.busy_until >= now ? row.lease_token : null,
    agent: row.agent,
  };
}

/** One implementation for SQLite and Postgres: every query here is portable SQL. */
export class KyselyStore implements Store, RunStore, KeyStore, UsageStore {
  private readonly q: ReturnType<typeof sessionQueries>;
  private readonly r: ReturnType<typeof runQueries>;
  private readonly keyByHashQ: ReturnType<typeof keyByHashQuery>;
  private readonly recordUsageQ: ReturnType<typeof usageRecorder>;

  constructor(private readonly db: Kysely<Database>) {
    this.q = sessionQueries(db);
    this.r = runQueries(db);
    this.keyByHashQ = keyByHashQuery(db);
    this.recordUsageQ = usageRecorder(db);
  }

  /** Runs `work` on a view of this store whose every call is part of one transaction: one commit. */
  atomically<T>(work: (store: this) => Promise<T>): Promise<T> {
    return this.inTransaction((tx) => work(this.on(tx)));
  }

  /** This store, its queries running on `tx`: the compiled queries take their runner per call. */
  private on(tx: Kysely<Database>): this {
    const view = Object.create(this) as this;
    Object.defineProperty(view, 'db', { value: tx });
    return view;
  }

  /** A transaction, or the one this view already runs in (Kysely has no nested transactions). */
  private inTransaction<T>(work: (tx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db.isTransaction ? work(this.db) : this.db.transaction().execute(work);
  }

  async openSession(id: string, owner: string, title: string, agent: string | null = null): Promise<SessionSummary> {
    const now = iso();
    const { numAffectedRows } = await this.q.insertSession(this.db, id, owner, title, now, agent);
    // Inserted: the row holds just these values, so it is not read back (every /chat turn opens its
    // session, and a statement less is a measurable part of a turn).
    if ((numAffectedRows ?? 0n) > 0n) return { id, title, message_count: 0, created_at: now, updated_at: now, active_run_id: null, agent };
    const session = await this.getSession(id, owner);
    // Only a delete racing the open can get here; the caller sees it as the store failing.
    if (!session) throw new Error(`session ${id} was deleted while it was being opened`);
    return session;
  }

  async getSession(id: string, owner: string): Promise<SessionSummary | undefined> {
    const row = (await this.q.getSession(this.db, id, owner)).rows[0];
    return row && toSummary(row, iso());
  }

  async listSessions(owner: string, { limit, before }: { limit: number; before?: string | undefined }): Promise<SessionSummary[]> {
    let q = this.db.selectFrom('sessions').select(summaryColumns).where('owner', '=', owner);
    if (before) {
      // Keyset paging on (updated_at desc, id asc): ties on updated_at continue by id.
      const { updated_at, id } = parseSessionCursor(before);
      if (id === undefined) q = q.where('updated_at', '<', updated_at);
      else q = q.where((eb) => eb.or([eb('updated_at', '<', updated_at), eb.and([eb('updated_at', '=', updated_at), eb('id', '>', id)])]));
    }
    const rows = await q.orderBy('updated_at', 'desc').orderBy('id').limit(limit).execute();
    const now = iso();
    return rows.map((row) => toSummary(row, now));
  }

  async deleteSession(id: string, owner: string): Promise<boolean> {
    return this.inTransaction(async (tx) => {
      const res = await tx.deleteFrom('sessions').where('owner', '=', owner).where('id', '=', id).executeTakeFirst();
      if (res.numDeletedRows === 0n) return false;
      await tx.deleteFrom('messages').where('owner', '=', owner).where('session_id', '=', id).execute();
      await tx
        .deleteFrom('run_events')
        .where('run_id', 'in', (eb) => eb.selectFrom('runs').select('id').where('owner', '=', owner).where('session_id', '=', id))
        .execute();
      // The foreign key's cascade takes any event a still-running run appended meanwhile.
      await tx.deleteFrom('runs').where('owner', '=', owner).where('session_id', '=', id).execute();
      return true;
    });
  }

  async appendMessages(sessionId: string, owner: string, messages: ChatMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const now = iso();
    await this.inTransaction(async (tx) => {
      const row = (await this.q.bumpCount(tx, messages.length, now, sessionId, owner)).rows[0];
      if (!row) throw new Error(`session ${sessionId} does not exist`);
      const first = Number(row.message_count) - messages.length;
      for (const [i, m] of messages.entries()) await this.q.insertMessage(tx, sessionId, owner, first + i, m.role, JSON.stringify(m), now);
    });
  }

  async recentMessages(sessionId: string, owner: string, limit: number): Promise<ChatMessage[]> {
    if (limit <= 0) return [];
    const { rows } = await this.q.recentMessages(this.db, sessionId, owner, limit);
    return rows.reverse().map((r) => JSON.parse(r.data) as ChatMessage);
  }

  async listMessages(sessionId: string, owner: string, { after, limit }: { after?: number; limit: number }): Promise<MessageRecord[]> {
    let q = this.db.selectFrom('messages').select(['seq', 'data', 'created_at']).where('owner', '=', owner).where('session_id', '=', sessionId);
    if (after !== undefined) q = q.where('seq', '>', after);
    const rows = await q.orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ seq: Number(r.seq), created_at: r.created_at, message: JSON.parse(r.data) as ChatMessage }));
  }

  async supersedeAnswer(sessionId: string, owner: string): Promise<boolean> {
    return this.inTransaction(async (tx) => {
      const inSession = tx.selectFrom('messages').where('owner', '=', owner).where('session_id', '=', sessionId);
      const lastUser = await inSession.select('seq').where('role', '=', 'user').orderBy('seq', 'desc').limit(1).executeTakeFirst();
      if (!lastUser) return false;
      // Rewritten in JS, not with SQL JSON functions: SQLite and Postgres spell those differently,
      // and an answer is a few messages.
      const after = await inSession.select(['seq', 'data']).where('seq', '>', lastUser.seq).orderBy('seq').execute();
      for (const row of after) {
        const message = JSON.parse(row.data) as ChatMessage;
        if (message.role === 'user' || message.superseded) continue;
        await tx
          .updateTable('messages')
          .set({ data: JSON.stringify({ ...message, superseded: true }) })
          .where('owner', '=', owner)
          .where('session_id', '=', sessionId)
          .where('seq', '=', row.seq)
          .execute();
      }
      return true;
    });
  }

  async claimSession(sessionId: string, owner: string, token: string, until: number): Promise<boolean> {
    const { numAffectedRows } = await this.q.claimSession(this.db, iso(until), token, sessionId, owner, iso());
    return (numAffectedRows ?? 0n) > 0n;
  }

  async renewSession(sessionId: string, owner: string, token: string, until: number): Promise<boolean> {
    const { numAffectedRows } = await this.q.renewSession(this.db, iso(until), sessionId, owner, token);
    return (numAffectedRows ?? 0n) > 0n;
  }

  async releaseSession(sessionId: string, owner: string, token: string): Promise<void> {
    await this.q.releaseSession(this.db, sessionId, owner, token);
  }

  async sessionClaim(sessionId: string, owner: string): Promise<{ token: string; until: number } | undefined> {
    const row = (await this.q.sessionClaim(this.db, sessionId, owner, iso())).rows[0];
    return row?.lease_token && row.busy_until ? { token: row.lease_token, until: Date.parse(row.busy_until) } : undefined;
  }

  async createRun(run: NewRun): Promise<void> {
    await this.r.createRun(this.db, run.id, run.session_id, run.owner, run.status, run.created_at, run.started_at, epochMs(run.lease_until));
  }

  async getRun(id: string, owner: string): Promise<RunRecord | undefined> {
    const row = (await this.r.getRun(this.db, id, owner)).rows[0];
    return row && toRunRecord(row);
  }

  async getRunState(id: string, owner: string): Promise<RunState | undefined> {
    const row = (await this.r.getRunState(this.db, id, owner)).rows[0];
    return row && toRunState(row);
  }

  async listRuns(sessionId: string, owner: string, { limit, before }: { limit: number; before?: string | undefined }): Promise<RunRecord[]> {
    let q = this.db.selectFrom('runs').selectAll().where('owner', '=', owner).where('session_id', '=', sessionId);
    if (before) {
      // Keyset paging on (created_at desc, id desc): ties on created_at continue by id.
      const { created_at, id } = parseRunCursor(before);
      if (id === undefined) q = q.where('created_at', '<', created_at);
      else q = q.where((eb) => eb.or([eb('created_at', '<', created_at), eb.and([eb('created_at', '=', created_at), eb('id', '<', id)])]));
    }
    const rows = await q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toRunRecord);
  }

  async finishRun(id: string, o: RunOutcome, events: readonly LoggedEvent[] = []): Promise<boolean> {
    const finish = async (runner: Kysely<Database>) => {
      const { numAffectedRows } = await this.r.finishRun(
        runner,
        o.status,
        o.error?.code ?? null,
        o.error?.message ?? null,
        o.reply,
        JSON.stringify(o.tool_calls),
        o.usage === null ? null : JSON.stringify(o.usage),
        o.finished_at,
        epochMs(o.events_expire_at),
        id,
        o.finish_reason,
      );
      return (numAffectedRows ?? 0n) > 0n;
    };
    if (events.length === 0) return finish(this.db);
    // One transaction: a reader that sees the run's last events finds it finished, and it is one write.
    return this.inTransaction(async (tx) => {
      if (!(await finish(tx))) return false;
      await this.insertBatches(tx, id, events);
      return true;
    });
  }

  async renewRuns(ids: readonly string[], until: number): Promise<void> {
    for (const part of chunks(ids, IDS_PER_QUERY)) {
      await this.db
        .updateTable('runs')
        .set({ lease_until: epochMs(until) })
        .where('id', 'in', part)
        .where('status', 'in', LIVE_STATUSES)
        .execute();
    }
  }

  async requestCancel(id: string, owner: string): Promise<boolean> {
    const { numAffectedRows } = await this.r.requestCancel(this.db, id, owner);
    return (numAffectedRows ?? 0n) > 0n;
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    const asked = new Set<string>();
    for (const part of chunks(ids, IDS_PER_QUERY)) {
      const rows = await this.db.selectFrom('runs').select('id').where('id', 'in', part).where('cancel_requested', '=', 1).execute();
      for (const r of rows) asked.add(r.id);
    }
    return ids.filter((id) => asked.has(id));
  }

  async staleRuns(now: number, limit: number): Promise<RunRecord[]> {
    const rows = await this.db
      .selectFrom('runs')
      .selectAll()
      .where('status', 'in', LIVE_STATUS_LITERALS)
      .where('lease_until', '<', epochMs(now))
      .orderBy('lease_until')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toRunRecord);
  }

  async appendRunEvents(runId: string, events: readonly LoggedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const batches = toBatches(events);
    // One statement is atomic by itself; only several batches need a transaction.
    if (batches.length === 1) return this.insertBatches(this.db, runId, events, batches);
    await this.inTransaction((tx) => this.insertBatches(tx, runId, events, batches));
  }

  private async insertBatches(runner: Kysely<Database>, runId: string, events: readonly LoggedEvent[], batches = toBatches(events)): Promise<void> {
    for (const b of batches) {
      const { numAffectedRows } = await this.r.insertBatch(runner, runId, b.seq, b.last_seq, b.data);
      if ((numAffectedRows ?? 0n) === 0n) throw new Error(`run ${runId}: events up to ${b.last_seq} overlap events already logged`);
    }
  }

  async readRunEvents(runId: string, after: number, limit: number): Promise<LoggedEvent[]> {
    if (limit <= 0) return [];
    const { rows } = await this.r.readBatches(this.db, runId, after + 1, after + limit);
    const out: LoggedEvent[] = [];
    for (const row of rows) {
      const first = Number(row.seq);
      const lines = row.data.split('\n');
      for (let i = Math.max(0, after + 1 - first); i < lines.length && out.length < limit; i++) out.push({ seq: first + i, data: lines[i]! });
      if (out.length >= limit) break;
    }
    return out;
  }

  async lastRunEventSeq(runId: string): Promise<number> {
    const row = (await this.r.lastRunEventSeq(this.db, runId)).rows[0];
    return Number(row?.last_seq ?? 0);
  }

  async pruneRunEvents(now: number, limit: number): Promise<number> {
    return (await this.pruneExpiredRuns(now, limit)).length;
  }

  /** `pruneRunEvents`, returning the ids of the runs it marked (a log kept elsewhere goes with them). */
  async pruneExpiredRuns(now: number, limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    return this.inTransaction(async (tx) => {
      // Marking is the first statement, so it takes the write lock (SQLite: a transaction that
      // read first could not upgrade once another worker wrote) or the rows' locks (Postgres: a
      // concurrent pruner that picked the same runs then finds them marked), and each run is
      // counted once.
      const marked = await tx
        .updateTable('runs')
        .set({ events_pruned: 1 })
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('runs')
            .select('id')
            // A literal, for the partial index runs_unpruned_expire (see LIVE_STATUS_LITERALS).
            .where('events_pruned', '=', sql.lit(0))
            .where('events_expire_at', '<', epochMs(now))
            .orderBy('events_expire_at')
            .limit(limit),
        )
        .where('events_pruned', '=', 0)
        .returning('id')
        .execute();
      const ids = marked.map((r) => r.id);
      for (const part of chunks(ids, IDS_PER_QUERY)) await tx.deleteFrom('run_events').where('run_id', 'in', part).execute();
      return ids;
    });
  }

  createKey(key: NewApiKey): Promise<ApiKeyRecord> {
    return keyQueries.create(this.db, key);
  }

  keyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    return this.keyByHashQ(this.db, keyHash);
  }

  getKey(id: string): Promise<ApiKeyRecord | undefined> {
    return keyQueries.byId(this.db, id);
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return keyQueries.list(this.db);
  }

  revokeKey(id: string, at: string): Promise<ApiKeyRecord | undefined> {
    return this.inTransaction(async (tx) => {
      await keyQueries.revoke(tx, id, at);
      return keyQueries.byId(tx, id);
    });
  }

  updateKey(id: string, changes: KeyChanges): Promise<ApiKeyRecord | undefined> {
    return this.inTransaction(async (tx) => {
      await keyQueries.update(tx, id, changes);
      return keyQueries.byId(tx, id);
    });
  }

  touchKey(id: string, at: string): Promise<void> {
    return keyQueries.touch(this.db, id, at);
  }

  recordUsage(record: UsageRecord): Promise<void> {
    return this.recordUsageQ(this.db, record);
  }

  usage(query: UsageQuery): Promise<{ rows: UsageRow[]; total: UsageTotals }> {
    return usageQueries.report(this.db, query);
  }

  async ping(): Promise<void> {
    await this.db.selectFrom('sessions').select('id').limit(1).execute();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
