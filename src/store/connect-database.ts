import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import type { StoreLocation } from './database-url.js';
import type { Database } from './schema.js';

/**
 * Every better-sqlite3 object this process makes stays reachable until the process ends, closed or
 * not. better-sqlite3 12 wraps its objects in `node::ObjectWrap`; compiled against Node 24's headers,
 * that class's destructor asks for the current Node environment, which the garbage collector's
 * callbacks do not have, so a Database or Statement that V8 collects aborts the process
 * (`Assertion failed: (env) != nullptr`, at any GC, idle or busy). Closing first does not help: the
 * destructor still runs when the object is collected. What is never collected never gets there;
 * `close()` still frees the SQLite side, and Node's own exit-time cleanup deletes the wrappers while
 * the environment exists. Node 20 and 22 do not need this, and it costs them nothing that matters.
 */
const neverCollected = new Set<SqliteDatabase.Database>();

/**
 * Kysely prepares every query anew; preparing is a large share of a small query's cost, and our
 * queries are a fixed set of SQL strings, so prepared statements are kept and reused. They are kept
 * for the database's life, never evicted: an evicted statement would be left to the garbage
 * collector (see `neverCollected`). The set is finite: IN lists and multi-row inserts are cut into
 * chunks of a fixed size, so even the variable ones come in a few hundred shapes at most.
 */
function withStatementCache(db: SqliteDatabase.Database): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepare = db.prepare.bind(db);
  db.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (!statement) {
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
  neverCollected.add(sqlite);
  // exec, not pragma(): pragma() prepares a statement of its own and drops it (see neverCollected).
  // WAL lets cluster workers read while one writes; busy_timeout makes writers queue instead of failing.
  // better-sqlite3 builds SQLite with foreign keys on, plain SQLite has them off; run_events relies
  // on its foreign key to runs, so say so rather than depend on how the driver was built.
  sqlite.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;');
  // Checkpoint at ~10,000 WAL pages (~40 MB) instead of 1,000: a /chat turn writes ~25 pages, so the
  // default checkpointed every ~40 turns, copying the same hot index pages back each time and
  // fsyncing on the event loop. Measured (bench/run.ts b and h, docs/performance.md): ~8% less CPU
  // per /chat, ~15% more req/s. The WAL file then stays at up to ~40 MB between checkpoints.
  sqlite.exec('PRAGMA wal_autocheckpoint = 10000;');
  return new Kysely({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}
