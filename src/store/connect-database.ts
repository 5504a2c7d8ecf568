import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { StoreLocation } from './database-url.js';
import type { Database } from './schema.js';

/**
 * Kysely prepares every query anew; preparing is a large share of a small query's cost, and our
 * queries are a fixed set of SQL strings, so prepared statements are kept and reused.
 */
function withStatementCache(db: SqliteDatabase.Database, limit = 500): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (!statement) {
      if (cache.size >= limit) cache.clear(); // multi-row inserts vary by row count
      statement = prepare(source);
      cache.set(source, statement);
    }
    return statement;
  }) as typeof db.prepare;
  return db;
}

/** A Kysely instance on the location, not migrated: `openStore` migrates; tests build old schemas on it. */
export function connectDatabase(location: StoreLocation): Kysely<Database> {
  if (location.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: location.url, max: 10 });
    // An idle client the server drops (restart, idle timeout, admin kill) is emitted here; unheard,
    // it would crash the process. The pool discards that client and the next query connects anew.
    pool.on('error', () => {});
    return new Kysely({ dialect: new PostgresDialect({ pool }) });
  }
  const memory = location.path === ':memory:';
  if (!memory) mkdirSync(dirname(resolve(location.path)), { recursive: true });
  const sqlite = new SqliteDatabase(location.path);
  // WAL lets cluster workers read while one writes; busy_timeout makes writers queue instead of failing.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  // better-sqlite3 builds SQLite with foreign keys on, plain SQLite has them off; run_events relies
  // on its foreign key to runs, so say so rather than depend on how the driver was built.
  sqlite.pragma('foreign_keys = ON');
  return new Kysely({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}
