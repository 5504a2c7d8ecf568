import { Migrator, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import type { Database } from './schema.js';

// A migration sees an untyped database: it must not depend on today's schema type, which later
// migrations change.

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
