import type { Kysely, Selectable } from 'kysely';
import type { ApiKeyRecord, KeyChanges, NewApiKey } from './key-store.js';
import { precompile, type QueryRunner } from './precompiled.js';
import type { Database } from './schema.js';

type KeyRow = Selectable<Database['api_keys']>;

const numberOrNull = (v: number | string | null): number | null => (v === null ? null : Number(v));

/** BIGINTs come back as strings from node-postgres. */
export function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    key_hash: row.key_hash,
    created_at: row.created_at,
    last_used_at: row.last_used_at,
    revoked_at: row.revoked_at,
    rate_limit_per_minute: numberOrNull(row.rate_limit_per_minute),
    token_budget: numberOrNull(row.token_budget),
    tokens_used: Number(row.tokens_used),
  };
}

/** The KeyStore's queries on a Kysely database (or transaction). */
export const keyQueries = {
  async create(db: Kysely<Database>, key: NewApiKey): Promise<ApiKeyRecord> {
    await db
      .insertInto('api_keys')
      .values({ ...key, last_used_at: null, revoked_at: null, tokens_used: 0 })
      .execute();
    return { ...key, last_used_at: null, revoked_at: null, tokens_used: 0 };
  },

  async byId(db: Kysely<Database>, id: string): Promise<ApiKeyRecord | undefined> {
    const row = await db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toKey(row);
  },

  async list(db: Kysely<Database>): Promise<ApiKeyRecord[]> {
    const rows = await db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toKey);
  },

  async revoke(db: Kysely<Database>, id: string, at: string): Promise<void> {
    await db.updateTable('api_keys').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
  },

  async update(db: Kysely<Database>, id: string, changes: KeyChanges): Promise<void> {
    if (Object.keys(changes).length === 0) return;
    await db.updateTable('api_keys').set(changes).where('id', '=', id).execute();
  },

  async touch(db: Kysely<Database>, id: string, at: string): Promise<void> {
    await db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
  },
};

/**
 * The lookup every request with a managed key makes, compiled once (see precompile): building a
 * Kysely query per request would cost more than the indexed read itself.
 */
export function keyByHashQuery(db: Kysely<Database>): (runner: QueryRunner, keyHash: string) => Promise<ApiKeyRecord | undefined> {
  const query = precompile((a) => db.selectFrom('api_keys').selectAll().where('key_hash', '=', a(0)));
  return async (runner, keyHash) => {
    const row = (await query(runner, keyHash)).rows[0];
    return row && toKey(row);
  };
}
