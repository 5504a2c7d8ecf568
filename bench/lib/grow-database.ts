/**
 * Grows an embedded (SQLite) database the way `/chat` does, only much faster: every added turn is
 * a copy of the rows one real turn left (its session, messages, run and run log), with new ids and
 * timestamps. Used by scenario h to take the tables past 100k sessions between rounds while the
 * server runs (WAL: the server goes on reading and writing meanwhile).
 */
import SqliteDatabase from 'better-sqlite3';
import { uuidv7 } from '../../dist/runs/uuid-v7.js';

type Row = Record<string, unknown>;

/**
 * Never collected (see src/store/connect-database.ts): better-sqlite3 objects that V8 collects
 * abort the process on Node 24. A benchmark opens a handful; they are closed, never dropped.
 */
const neverCollected = new Set<unknown>();

export interface Grower {
  /** Rows in `sessions`. */
  sessions(): number;
  /**
   * Adds `count` finished turns, each a new session, in one transaction per 10,000. Their logs
   * expire `logsExpireInMs` from now (default: as long after now as the template's did after it ended).
   */
  addTurns(count: number, logsExpireInMs?: number): void;
  close(): void;
}

/** Opens `path` (migrated: the server has started on it) and takes the newest turn as the template. */
export function growDatabase(path: string): Grower {
  const db = new SqliteDatabase(path);
  neverCollected.add(db);
  db.exec('PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;');
  const one = <T>(sql: string, ...args: unknown[]) => {
    const s = db.prepare(sql);
    neverCollected.add(s);
    return s.get(...args) as T | undefined;
  };
  const all = (sql: string, ...args: unknown[]) => {
    const s = db.prepare(sql);
    neverCollected.add(s);
    return s.all(...args) as Row[];
  };
  const run = one<Row>("SELECT * FROM runs WHERE session_id IS NOT NULL AND status = 'completed' ORDER BY id DESC LIMIT 1");
  if (!run) throw new Error(`${path}: no finished /chat turn to copy`);
  const session = one<Row>('SELECT * FROM sessions WHERE owner = ? AND id = ?', run['owner'], run['session_id'])!;
  const messages = all('SELECT * FROM messages WHERE owner = ? AND session_id = ? ORDER BY seq', run['owner'], run['session_id']);
  const events = all('SELECT * FROM run_events WHERE run_id = ? ORDER BY seq', run['id']);
  const [sessionId, runId] = [String(run['session_id']), String(run['id'])];

  const insert = (table: string, row: Row) => {
    const columns = Object.keys(row);
    const s = db.prepare(`INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    neverCollected.add(s);
    return (values: Row) => s.run(...columns.map((c) => values[c]));
  };
  const inserts = {
    session: insert('sessions', session),
    message: insert('messages', messages[0]!),
    run: insert('runs', run),
    event: insert('run_events', events[0]!),
  };
  // New ids everywhere the template's appear (the log's JSON names both); moments moved to now: ISO
  // timestamps become now, epoch ones (the log's expiry) keep their distance from the turn's end.
  const ended = Date.parse(String(run['finished_at']));
  const copy = (row: Row, ids: { session: string; run: string }, now: number, expireIn: number | undefined): Row => {
    const out: Row = {};
    for (const [k, v] of Object.entries(row)) {
      if (!k.endsWith('_at')) out[k] = typeof v === 'string' ? v.replaceAll(sessionId, ids.session).replaceAll(runId, ids.run) : v;
      else if (typeof v === 'string') out[k] = new Date(now).toISOString();
      else if (typeof v === 'number') out[k] = k === 'events_expire_at' && expireIn !== undefined ? now + expireIn : v + (now - ended);
      else out[k] = v;
    }
    return out;
  };
  const addBatch = db.transaction((count: number, expireIn: number | undefined) => {
    for (let i = 0; i < count; i++) {
      const ids = { session: uuidv7(), run: `run_${uuidv7().replaceAll('-', '')}` };
      const now = Date.now();
      inserts.session(copy(session, ids, now, expireIn));
      for (const m of messages) inserts.message(copy(m, ids, now, expireIn));
      inserts.run(copy(run, ids, now, expireIn));
      for (const e of events) inserts.event(copy(e, ids, now, expireIn));
    }
  });
  neverCollected.add(addBatch);
  const counter = db.prepare('SELECT count(*) AS n FROM sessions');
  neverCollected.add(counter);
  return {
    sessions: () => Number((counter.get() as { n: number }).n),
    addTurns(count, logsExpireInMs) {
      for (let done = 0; done < count; done += 10_000) addBatch(Math.min(10_000, count - done), logsExpireInMs);
    },
    close: () => db.close(),
  };
}
