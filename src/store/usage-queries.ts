import { sql, type Kysely, type RawBuilder } from 'kysely';
import { precompile, type QueryRunner } from './precompiled.js';
import type { Database } from './schema.js';
import type { UsageGroup, UsageQuery, UsageRecord, UsageRow, UsageTotals } from './usage-store.js';

/** Each group's column; the day is the first ten characters of the ISO time, the same in SQLite and Postgres. */
const groupColumn: Record<UsageGroup, RawBuilder<string | null>> = {
  day: sql`substr(created_at, 1, 10)`,
  session: sql`session_id`,
  model: sql`model`,
  agent: sql`agent`,
  // A key from the environment has no id: its hash's first 12 hex digits tell such keys apart
  // (one can check a key against it; 48 bits of a SHA-256 reveal nothing usable of a random key).
  key: sql`coalesce(key_id, 'env:' || substr(owner, 1, 12))`,
};

/** SUM and COUNT are BIGINT (strings from node-postgres) and SUM of no rows is null. */
const count = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

/**
 * Recording a run's usage, compiled once (see precompile): it runs at the end of every run, and
 * building the two queries per run cost more than SQLite took to run them.
 */
export function usageRecorder(db: Kysely<Database>): (runner: QueryRunner, r: UsageRecord) => Promise<void> {
  const insert = precompile((a) =>
    db
      .insertInto('usage_ledger')
      .values({
        run_id: a(0),
        owner: a(1),
        key_id: db.selectFrom('api_keys').select('id').where('key_hash', '=', a(1)),
        session_id: a(2),
        agent: a(3),
        model: a(4),
        input_tokens: a(5),
        output_tokens: a(6),
        created_at: a(7),
      })
      .onConflict((oc) => oc.column('run_id').doNothing())
      .returning('key_id'),
  );
  const addTokens = precompile((a) =>
    db
      .updateTable('api_keys')
      .set({ tokens_used: sql<number>`tokens_used + ${a(0)}` })
      .where('id', '=', a(1)),
  );
  // The row, under the managed key of its owner if any; then, for a managed key only, its running
  // total. Two commits, not one transaction: a transaction was a third of the cost on every run,
  // and most runs (keys from the environment) need the insert alone. A process that dies between
  // the two leaves that run's tokens out of its key's total: a budget is approximate anyway (runs
  // already going are never cut off).
  return async (runner, r) => {
    const inserted = await insert(runner, r.run_id, r.owner, r.session_id, r.agent, r.model, r.input_tokens, r.output_tokens, r.created_at);
    const keyId = inserted.rows[0]?.key_id;
    const tokens = r.input_tokens + r.output_tokens;
    if (keyId !== undefined && keyId !== null && tokens > 0) await addTokens(runner, tokens, keyId);
  };
}

/** The usage ledger's queries on a Kysely database (or transaction). */
export const usageQueries = {
  async report(db: Kysely<Database>, q: UsageQuery): Promise<{ rows: UsageRow[]; total: UsageTotals }> {
    let base = db.selectFrom('usage_ledger').where('created_at', '>=', q.from).where('created_at', '<', q.to);
    if (q.owner !== undefined) base = base.where('owner', '=', q.owner);
    if (q.keyId !== undefined) base = base.where('key_id', '=', q.keyId);
    const sums = [
      sql<string | number>`count(*)`.as('runs'),
      sql<string | number | null>`sum(input_tokens)`.as('input_tokens'),
      sql<string | number | null>`sum(output_tokens)`.as('output_tokens'),
    ] as const;
    const group = groupColumn[q.groupBy];
    const rows = await base
      .select([group.as('grp'), ...sums])
      .groupBy(group)
      .orderBy(sql`${group} is null`)
      .orderBy(group)
      .limit(q.limit)
      .execute();
    const total = await base.select(sums).executeTakeFirstOrThrow();
    return {
      rows: rows.map((r) => ({ group: r.grp, runs: count(r.runs), input_tokens: count(r.input_tokens), output_tokens: count(r.output_tokens) })),
      total: { runs: count(total.runs), input_tokens: count(total.input_tokens), output_tokens: count(total.output_tokens) },
    };
  },
};
