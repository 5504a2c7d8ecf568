import { sql, type Kysely, type RawBuilder } from 'kysely';
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

/** The usage ledger's queries on a Kysely database (or transaction). */
export const usageQueries = {
  /** The run's row, under the managed key of its owner if any, and that key's running total, as one write. */
  async record(db: Kysely<Database>, r: UsageRecord): Promise<void> {
    const inserted = await db
      .insertInto('usage_ledger')
      .values({ ...r, key_id: db.selectFrom('api_keys').select('id').where('key_hash', '=', r.owner) })
      .onConflict((oc) => oc.column('run_id').doNothing())
      .executeTakeFirst();
    const tokens = r.input_tokens + r.output_tokens;
    if ((inserted.numInsertedOrUpdatedRows ?? 0n) > 0n && tokens > 0) {
      await db
        .updateTable('api_keys')
        .set({ tokens_used: sql<number>`tokens_used + ${tokens}` })
        .where('key_hash', '=', r.owner)
        .execute();
    }
  },

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
