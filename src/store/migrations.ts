import { Migrator, SqliteAdapter, sql, type CreateTableBuilder, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import type { Database } from './schema.js';

// A migration sees an untyped database: it must not depend on today's schema type, which later
// migrations change.

/**
 * Runs a migration step that rebuilds tables in one transaction. Kysely wraps migrations in one
 * where it deems DDL transactional (Postgres) but not on SQLite, where DDL is transactional too: a
 * crash halfway through a rebuild would otherwise leave both tables and a migration that cannot rerun.
 */
function atomically(db: Kysely<unknown>, step: (db: Kysely<unknown>) => Promise<void>): Promise<void> {
  return db.isTransaction ? step(db) : db.transaction().execute(step);
}

/** Migrations that differ by database; the adapter is Kysely's own record of which one this is. */
function isSqlite(db: Kysely<unknown>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}

/**
 * The indexes on `runs` that only live runs (sweeper) or unpruned finished runs (pruner) are looked
 * up in, over those rows only, so each stays small: a run leaves the first when it ends, and is in
 * the second from when it ends (its expiry is null until then) until its log is pruned. A turn then
 * writes one page of the second, not two (the null expiries' page at the start, the newest expiries'
 * at the end). Their queries name the same conditions as literals: SQLite (and Postgres, for a
 * generic plan) use a partial index only when the query's WHERE implies the index's.
 */
async function createPartialRunIndexes(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('runs_live_lease')
    .on('runs')
    .column('lease_until')
    .where(sql.ref('status'), 'in', [sql.lit('queued'), sql.lit('running')])
    .execute();
  await db.schema
    .createIndex('runs_unpruned_expire')
    .on('runs')
    .column('events_expire_at')
    .where((eb) => eb.and([eb(sql.ref('events_pruned'), '=', sql.lit(0)), eb(sql.ref('events_expire_at'), 'is not', null)]))
    .execute();
}

async function createFullRunIndexes(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('runs_status_lease').on('runs').columns(['status', 'lease_until']).execute();
  await db.schema.createIndex('runs_pruned_expire').on('runs').columns(['events_pruned', 'events_expire_at']).execute();
}

/**
 * Migration 004 on SQLite: the four tables rebuilt, WITHOUT ROWID or back (`rowid` false or true),
 * keeping every row. A table with a text primary key and a rowid is two b-trees (the rows by rowid,
 * and the key's index); without rowid the rows live in the key's b-tree, so an insert writes one
 * page fewer. Replaying a /chat turn, that and the partial indexes took the WAL pages a turn writes
 * from ~23 to ~17.5 and SQLite's CPU per turn by ~15%, also for replies of 2 and 8 KB (long rows
 * go to overflow pages sooner without rowid, but a rowid table's rows overflow its leaves just as).
 */
async function rebuildTables(db: Kysely<unknown>, rowid: boolean): Promise<void> {
  const end = <T extends string, C extends string>(b: CreateTableBuilder<T, C>) => (rowid ? b : b.modifyEnd(sql`without rowid`));
  await end(
    db.schema
      .createTable('sessions_v4')
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('id', 'text', (c) => c.notNull())
      .addColumn('title', 'text')
      .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('busy_until', 'text')
      .addColumn('lease_token', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('sessions_owner_id_pk', ['owner', 'id']),
  ).execute();
  await sql`insert into sessions_v4 (owner, id, title, message_count, busy_until, lease_token, created_at, updated_at)
  select owner, id, title, message_count, busy_until, lease_token, created_at, updated_at from sessions`.execute(db);
  await end(
    db.schema
      .createTable('messages_v4')
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('session_id', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('messages_owner_session_seq_pk', ['owner', 'session_id', 'seq']),
  ).execute();
  await sql`insert into messages_v4 (owner, session_id, seq, role, data, created_at)
  select owner, session_id, seq, role, data, created_at from messages`.execute(db);
  // A rowid table allowed a null primary key; no release wrote one, and without rowid it cannot be.
  await end(
    db.schema
      .createTable('runs_v4')
      .addColumn('id', 'text', (c) => c.primaryKey().notNull())
      .addColumn('session_id', 'text')
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('error_code', 'text')
      .addColumn('error_message', 'text')
      .addColumn('reply', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('tool_calls', 'text', (c) => c.notNull().defaultTo('[]'))
      .addColumn('usage', 'text')
      .addColumn('finish_reason', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('finished_at', 'text')
      .addColumn('lease_until', 'bigint')
      .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('events_expire_at', 'bigint')
      .addColumn('events_pruned', 'integer', (c) => c.notNull().defaultTo(0)),
  ).execute();
  await sql`insert into runs_v4 (id, session_id, owner, status, error_code, error_message, reply, tool_calls, usage, finish_reason,
    created_at, started_at, finished_at, lease_until, cancel_requested, events_expire_at, events_pruned)
  select id, session_id, owner, status, error_code, error_message, reply, tool_calls, usage, finish_reason,
    created_at, started_at, finished_at, lease_until, cancel_requested, events_expire_at, events_pruned from runs where id is not null`.execute(db);
  // The new log references the new runs, so dropping the old runs cascades into nothing; renaming
  // runs_v4 to runs rewrites that reference (SQLite does since 3.26). Events of no run (the foreign
  // key only holds while foreign_keys is on) are unreadable and are left behind.
  await end(
    db.schema
      .createTable('run_events_v4')
      .addColumn('run_id', 'text', (c) => c.notNull().references('runs_v4.id').onDelete('cascade'))
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('last_seq', 'integer', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_events_batches_pk', ['run_id', 'seq']),
  ).execute();
  await sql`insert into run_events_v4 (run_id, seq, last_seq, data)
  select run_id, seq, last_seq, data from run_events where run_id in (select id from runs_v4)`.execute(db);
  for (const table of ['run_events', 'runs', 'messages', 'sessions']) await db.schema.dropTable(table).execute();
  for (const table of ['sessions', 'messages', 'runs', 'run_events']) await db.schema.alterTable(`${table}_v4`).renameTo(table).execute();
  await db.schema.createIndex('sessions_owner_updated').on('sessions').columns(['owner', 'updated_at']).execute();
  await db.schema.createIndex('runs_owner_session_created').on('runs').columns(['owner', 'session_id', 'created_at', 'id']).execute();
}

const migrations: Record<string, Migration> = {
  '001_sessions_messages': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('title', 'text')
        .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('busy_until', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('sessions_owner_updated').on('sessions').columns(['owner', 'updated_at']).execute();
      await db.schema
        .createTable('messages')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('messages_pk', ['session_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('messages').execute();
      await db.schema.dropTable('sessions').execute();
    },
  },
  '002_runs': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('sessions').addColumn('lease_token', 'text').execute();
      await db.schema
        .createTable('runs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text')
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('reply', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('tool_calls', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('usage', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .addColumn('lease_until', 'bigint')
        .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('events_expire_at', 'bigint')
        .addColumn('events_pruned', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      // id completes the listing order, so a page boundary inside one millisecond is an index seek.
      await db.schema.createIndex('runs_session_created').on('runs').columns(['session_id', 'created_at', 'id']).execute();
      await db.schema.createIndex('runs_status_lease').on('runs').columns(['status', 'lease_until']).execute();
      await db.schema.createIndex('runs_pruned_expire').on('runs').columns(['events_pruned', 'events_expire_at']).execute();
      // The foreign key makes an append to a deleted run fail instead of leaving events nobody
      // prunes; the cascade catches events appended while deleteSession ran.
      await db.schema
        .createTable('run_events')
        .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('data', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('run_events_pk', ['run_id', 'seq'])
        .execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('run_events').execute();
      await db.schema.dropTable('runs').execute();
      await db.schema.alterTable('sessions').dropColumn('lease_token').execute();
    },
  },
  // Session ids become per owner: (owner, id) names a session, so two keys may use one id. Neither
  // database can change a primary key in place (SQLite cannot at all), so the tables are rebuilt.
  '003_sessions_per_owner': {
    up: (outer: Kysely<unknown>) =>
      atomically(outer, async (db) => {
        await db.schema
          .createTable('sessions_v3')
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('title', 'text')
          .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('busy_until', 'text')
          .addColumn('lease_token', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('sessions_owner_id_pk', ['owner', 'id'])
          .execute();
        await sql`insert into sessions_v3 (owner, id, title, message_count, busy_until, lease_token, created_at, updated_at)
        select owner, id, title, message_count, busy_until, lease_token, created_at, updated_at from sessions`.execute(db);
        await db.schema
          .createTable('messages_v3')
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('messages_owner_session_seq_pk', ['owner', 'session_id', 'seq'])
          .execute();
        await sql`insert into messages_v3 (owner, session_id, seq, role, data, created_at)
        select s.owner, m.session_id, m.seq, m.role, m.data, m.created_at from messages m join sessions s on s.id = m.session_id`.execute(db);
        await db.schema.dropTable('messages').execute();
        await db.schema.dropTable('sessions').execute();
        await db.schema.alterTable('sessions_v3').renameTo('sessions').execute();
        await db.schema.alterTable('messages_v3').renameTo('messages').execute();
        await db.schema.createIndex('sessions_owner_updated').on('sessions').columns(['owner', 'updated_at']).execute();
        await db.schema.dropIndex('runs_session_created').execute();
        // Why a run ended (stop, length, tool_calls, max_steps, content_filter, error); null while it runs.
        await db.schema.alterTable('runs').addColumn('finish_reason', 'text').execute();
        await db.schema.createIndex('runs_owner_session_created').on('runs').columns(['owner', 'session_id', 'created_at', 'id']).execute();
        // A run's log is kept in batches: one row per write, holding events seq..last_seq as JSON
        // lines. A short turn is then one row, not one per token (rows and their index entries were
        // most of what the log cost a turn).
        await db.schema
          .createTable('run_events_v3')
          .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('last_seq', 'integer', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('run_events_batches_pk', ['run_id', 'seq'])
          .execute();
        await sql`insert into run_events_v3 (run_id, seq, last_seq, data) select run_id, seq, seq, data from run_events`.execute(db);
        await db.schema.dropTable('run_events').execute();
        await db.schema.alterTable('run_events_v3').renameTo('run_events').execute();
      }),
    down: (outer: Kysely<unknown>) =>
      atomically(outer, async (db) => {
        // Fails (primary key) if two owners came to share an id: there is no lossless way back then.
        await db.schema
          .createTable('sessions_v2')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('title', 'text')
          .addColumn('message_count', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('busy_until', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addColumn('lease_token', 'text')
          .execute();
        await sql`insert into sessions_v2 (id, owner, title, message_count, busy_until, created_at, updated_at, lease_token)
        select id, owner, title, message_count, busy_until, created_at, updated_at, lease_token from sessions`.execute(db);
        await db.schema
          .createTable('messages_v2')
          .addColumn('session_id', 'text', (c) => c.notNull())
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('role', 'text', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('messages_pk', ['session_id', 'seq'])
          .execute();
        await sql`insert into messages_v2 (session_id, seq, role, data, created_at) select session_id, seq, role, data, created_at from messages`.execute(db);
        await db.schema.dropTable('messages').execute();
        await db.schema.dropTable('sessions').execute();
        await db.schema.alterTable('sessions_v2').renameTo('sessions').execute();
        await db.schema.alterTable('messages_v2').renameTo('messages').execute();
        await db.schema.createIndex('sessions_owner_updated').on('sessions').columns(['owner', 'updated_at']).execute();
        await db.schema.dropIndex('runs_owner_session_created').execute();
        await db.schema.alterTable('runs').dropColumn('finish_reason').execute();
        await db.schema.createIndex('runs_session_created').on('runs').columns(['session_id', 'created_at', 'id']).execute();
        // Batches of one event go back as rows; SQL cannot split the others, so those runs' logs read as expired.
        await db.schema
          .createTable('run_events_v2')
          .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id').onDelete('cascade'))
          .addColumn('seq', 'integer', (c) => c.notNull())
          .addColumn('data', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('run_events_pk', ['run_id', 'seq'])
          .execute();
        await sql`update runs set events_pruned = 1 where id in (select run_id from run_events where last_seq > seq)`.execute(db);
        await sql`insert into run_events_v2 (run_id, seq, data)
        select run_id, seq, data from run_events where run_id not in (select run_id from run_events where last_seq > seq)`.execute(db);
        await db.schema.dropTable('run_events').execute();
        await db.schema.alterTable('run_events_v2').renameTo('run_events').execute();
      }),
  },
  // Less to write per /chat turn (see rebuildTables and createPartialRunIndexes). Postgres has no
  // rowid to drop; it gets the partial indexes.
  '004_lean_runs': {
    up: (outer: Kysely<unknown>) =>
      atomically(outer, async (db) => {
        if (isSqlite(db)) await rebuildTables(db, false);
        else {
          await db.schema.dropIndex('runs_status_lease').execute();
          await db.schema.dropIndex('runs_pruned_expire').execute();
        }
        await createPartialRunIndexes(db);
      }),
    down: (outer: Kysely<unknown>) =>
      atomically(outer, async (db) => {
        if (isSqlite(db)) await rebuildTables(db, true);
        else {
          await db.schema.dropIndex('runs_live_lease').execute();
          await db.schema.dropIndex('runs_unpruned_expire').execute();
        }
        await createFullRunIndexes(db);
      }),
  },
  // The agent a session belongs to (a server may serve several); null for sessions from before,
  // which belong to the default agent.
  '005_session_agent': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('sessions').addColumn('agent', 'text').execute();
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('sessions').dropColumn('agent').execute();
    },
  },
  // Managed keys and the usage ledger (issue 12). Keys are found by their hash on every request
  // that carries one, so it is unique (and indexed); the ledger is read by owner or key and time.
  '006_keys_and_usage': {
    up: (outer: Kysely<unknown>) =>
      atomically(outer, async (db) => {
        await db.schema
          .createTable('api_keys')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('key_hash', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('last_used_at', 'text')
          .addColumn('revoked_at', 'text')
          .addColumn('rate_limit_per_minute', 'integer')
          .addColumn('token_budget', 'bigint')
          .addColumn('tokens_used', 'bigint', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createTable('usage_ledger')
          .addColumn('run_id', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('key_id', 'text')
          .addColumn('session_id', 'text')
          .addColumn('agent', 'text', (c) => c.notNull())
          .addColumn('model', 'text')
          .addColumn('input_tokens', 'integer', (c) => c.notNull())
          .addColumn('output_tokens', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('usage_owner_created').on('usage_ledger').columns(['owner', 'created_at']).execute();
        await db.schema.createIndex('usage_key_created').on('usage_ledger').columns(['key_id', 'created_at']).execute();
        await db.schema.createIndex('usage_created').on('usage_ledger').column('created_at').execute();
      }),
    down: (outer: Kysely<unknown>) =>
      atomically(outer, async (db) => {
        await db.schema.dropTable('usage_ledger').execute();
        await db.schema.dropTable('api_keys').execute();
      }),
  },
};

function migrator(db: Kysely<unknown>): Migrator {
  return new Migrator({ db, provider: { getMigrations: () => Promise.resolve(migrations) } });
}

function check({ error }: MigrationResultSet): void {
  if (error) throw error instanceof Error ? error : new Error('migration failed', { cause: error });
}

export async function migrateToLatest(db: Kysely<Database>): Promise<void> {
  check(await migrator(db as Kysely<unknown>).migrateToLatest());
}

/** Migrates up (or down) to `name`: builds a database as an older release left it, to test upgrades. */
export async function migrateTo(db: Kysely<unknown>, name: string): Promise<void> {
  check(await migrator(db).migrateTo(name));
}
