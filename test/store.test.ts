/**
 * The Store contract (src/store/store.ts), one shared suite run against both backends:
 * SQLite (a temp file) and PostgreSQL (a throwaway database created for this run). Then what
 * the PostgreSQL store does when the server drops one of its pooled connections.
 *
 * PostgreSQL is required: if it cannot be reached its tests fail with a message saying so.
 * It uses DATABASE_URL when that is a postgres:// URL, else postgres://postgres@127.0.0.1:5432/test.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, mock, test as nodeTest } from 'node:test';
import pg from 'pg';
import type { ChatMessage } from '../src/core/messages.js';
import { openStore } from '../src/store/open-store.js';
import { sessionCursor } from '../src/store/session-cursor.js';
import type { Store } from '../src/store/store.js';

interface Backend {
  /** Prepares the location (creates the database) and returns its DATABASE_URL. */
  setup(): Promise<string>;
  teardown(): Promise<void>;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const owner = () => `owner-${randomUUID()}`;
const sid = () => `s-${randomUUID()}`;

const sampleTurn: ChatMessage[] = [
  { role: 'user', content: 'what is 2+2?' },
  { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'calculator', arguments: { expression: '2+2' } }] },
  { role: 'tool', tool_call_id: 'call_1', name: 'calculator', result: { expression: '2+2', result: 4 } },
  { role: 'assistant', content: 'It is 4. ✓ 日本語 "quotes" \\ backslash' },
];

function userMessages(n: number, prefix = 'm'): ChatMessage[] {
  return Array.from({ length: n }, (_, i) => ({ role: 'user', content: `${prefix}${i}` }));
}

function storeContract(name: string, backend: Backend): void {
  describe(`Store contract: ${name}`, () => {
    let url: string;
    let store: Store;
    const extra: Store[] = [];
    /** Opens another store on the same location; closed in `after` unless the test closes it. */
    const openAnother = async (): Promise<Store> => {
      const s = await openStore(url);
      extra.push(s);
      return s;
    };

    // A setup failure (PostgreSQL down) fails every test with its message instead of cancelling them.
    let setupError: Error | undefined;
    before(async () => {
      try {
        url = await backend.setup();
        store = await openStore(url);
      } catch (err) {
        setupError = err instanceof Error ? err : new Error(String(err));
      }
    });
    const test = (title: string, fn: () => Promise<void>): void => {
      nodeTest(title, async () => {
        if (setupError) throw setupError;
        await fn();
      });
    };

    after(async () => {
      for (const s of extra) await s.close().catch(() => {});
      await store?.close().catch(() => {});
      await backend.teardown();
    });

    test('openSession creates a session, then returns the same one', async () => {
      const id = sid();
      const a = owner();
      const created = await store.openSession(id, a, 'first title');
      assert.ok(created);
      assert.equal(created.id, id);
      assert.equal(created.title, 'first title');
      assert.equal(created.message_count, 0);
      assert.match(created.created_at, ISO);
      assert.match(created.updated_at, ISO);
      assert.equal(created.created_at, created.updated_at);

      const again = await store.openSession(id, a, 'another title');
      assert.deepEqual(again, created, 'reopening keeps the original session (title included)');
      assert.deepEqual(await store.getSession(id, a), created);
    });

    test('another owner cannot open, read, list or delete the session', async () => {
      const id = sid();
      const a = owner();
      const b = owner();
      const mine = await store.openSession(id, a, 'mine');
      assert.ok(mine);
      await store.appendMessages(id, userMessages(2));

      assert.equal(await store.openSession(id, b, 'theirs'), undefined);
      assert.equal(await store.getSession(id, b), undefined);
      assert.deepEqual(await store.listSessions(b, { limit: 50 }), []);
      assert.equal(await store.deleteSession(id, b), false);

      const still = await store.getSession(id, a);
      assert.ok(still, 'the failed delete by another owner left the session in place');
      assert.equal(still.title, 'mine');
      assert.equal(still.message_count, 2);
      assert.equal((await store.listMessages(id, { limit: 10 })).length, 2);
      assert.deepEqual(
        (await store.listSessions(a, { limit: 50 })).map((s) => s.id),
        [id],
      );
    });

    test('two owners racing to open the same new id: exactly one wins', async () => {
      const id = sid();
      const owners = Array.from({ length: 6 }, owner);
      const results = await Promise.all(owners.map((o) => store.openSession(id, o, o)));
      const winners = results.filter((r) => r !== undefined);
      assert.equal(winners.length, 1, 'exactly one owner got the session');
      const winner = owners[results.findIndex((r) => r !== undefined)]!;
      assert.equal(winners[0]!.title, winner);
      for (const o of owners) assert.equal((await store.getSession(id, o)) !== undefined, o === winner);
    });

    test('getSession of an unknown id is undefined; deleteSession of an unknown id is false', async () => {
      assert.equal(await store.getSession(sid(), owner()), undefined);
      assert.equal(await store.deleteSession(sid(), owner()), false);
    });

    test('listSessions: most recently updated first, limit, and the `before` cursor', async () => {
      const a = owner();
      const [s1, s2, s3] = [sid(), sid(), sid()];
      // Distinct millisecond timestamps, so the order is fully determined by updated_at.
      await store.openSession(s1, a, 'one');
      await sleep(5);
      await store.openSession(s2, a, 'two');
      await sleep(5);
      await store.openSession(s3, a, 'three');
      await sleep(5);
      await store.appendMessages(s1, userMessages(1)); // s1 becomes the most recent

      const all = await store.listSessions(a, { limit: 50 });
      assert.deepEqual(
        all.map((s) => s.id),
        [s1, s3, s2],
      );
      assert.deepEqual(
        all.map((s) => s.title),
        ['one', 'three', 'two'],
      );
      assert.deepEqual(
        all.map((s) => s.message_count),
        [1, 0, 0],
      );
      for (const s of all) {
        assert.match(s.created_at, ISO);
        assert.match(s.updated_at, ISO);
        assert.ok(s.updated_at >= s.created_at);
      }
      assert.ok(all[0]!.updated_at > all[0]!.created_at, 'appending bumped updated_at');

      const page1 = await store.listSessions(a, { limit: 2 });
      assert.deepEqual(
        page1.map((s) => s.id),
        [s1, s3],
      );
      const page2 = await store.listSessions(a, { limit: 2, before: page1.at(-1)!.updated_at });
      assert.deepEqual(
        page2.map((s) => s.id),
        [s2],
      );
      const page3 = await store.listSessions(a, { limit: 2, before: page2.at(-1)!.updated_at });
      assert.deepEqual(page3, []);
      assert.deepEqual(
        (await store.listSessions(a, { limit: 2, before: undefined })).map((s) => s.id),
        [s1, s3],
      );
    });

    test('listSessions: sessions updated in the same millisecond page without loss or repeats', async () => {
      const a = owner();
      const ids = Array.from({ length: 5 }, sid);
      mock.timers.enable({ apis: ['Date'], now: Date.now() });
      try {
        for (const id of ids) await store.openSession(id, a, id); // all share one updated_at
      } finally {
        mock.timers.reset();
      }
      const all = await store.listSessions(a, { limit: 50 });
      assert.equal(new Set(all.map((s) => s.updated_at)).size, 1);
      assert.deepEqual(all.map((s) => s.id).sort(), [...ids].sort());

      // Page through with the cursor the HTTP layer hands out (sessionCursor), two at a time.
      const seen: string[] = [];
      let before: string | undefined;
      for (let pages = 0; pages < 10; pages++) {
        const page = await store.listSessions(a, { limit: 2, before });
        seen.push(...page.map((s) => s.id));
        if (page.length < 2) break;
        before = sessionCursor(page.at(-1)!);
      }
      assert.deepEqual(
        seen,
        all.map((s) => s.id),
      );
    });

    test('appendMessages assigns consecutive seq across calls, round-trips messages and bumps message_count', async () => {
      const id = sid();
      const a = owner();
      const opened = await store.openSession(id, a, 't');
      assert.ok(opened);
      await sleep(5);

      await store.appendMessages(id, sampleTurn.slice(0, 2));
      await store.appendMessages(id, []); // a no-op
      await store.appendMessages(id, sampleTurn.slice(2));
      await store.appendMessages(id, [{ role: 'user', content: 'next' }]);

      const rows = await store.listMessages(id, { limit: 100 });
      assert.deepEqual(
        rows.map((r) => r.seq),
        [0, 1, 2, 3, 4],
      );
      assert.deepEqual(
        rows.map((r) => r.message),
        [...sampleTurn, { role: 'user', content: 'next' }],
      );
      for (const r of rows) assert.match(r.created_at, ISO);

      const info = await store.getSession(id, a);
      assert.ok(info);
      assert.equal(info.message_count, 5);
      assert.equal(info.created_at, opened.created_at);
      assert.ok(info.updated_at > opened.updated_at, 'updated_at moved forward');
    });

    test('concurrent appendMessages never reuse a seq', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.appendMessages(id, userMessages(2, `batch${i}-`))));
      const rows = await store.listMessages(id, { limit: 100 });
      assert.deepEqual(
        rows.map((r) => r.seq),
        Array.from({ length: 16 }, (_, i) => i),
      );
      // Each batch is contiguous: the two messages of one call are never split by another call.
      for (let i = 0; i < 16; i += 2) {
        const first = rows[i]!.message as { content: string };
        const second = rows[i + 1]!.message as { content: string };
        assert.equal(second.content, first.content.replace(/0$/, '1'));
      }
    });

    test('appendMessages to a session that does not exist fails', async () => {
      await assert.rejects(store.appendMessages(sid(), userMessages(1)));
    });

    test('recentMessages returns the last N messages, oldest first', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      await store.appendMessages(id, userMessages(3));
      await store.appendMessages(id, userMessages(3, 'n'));
      const contents = async (n: number) => (await store.recentMessages(id, n)).map((m) => (m as { content: string }).content);
      assert.deepEqual(await contents(4), ['m2', 'n0', 'n1', 'n2']);
      assert.deepEqual(await contents(1), ['n2']);
      assert.deepEqual(await contents(100), ['m0', 'm1', 'm2', 'n0', 'n1', 'n2']);
      assert.deepEqual(await contents(0), []);
      assert.deepEqual(await store.recentMessages(sid(), 10), []);
    });

    test('listMessages pages with after + limit', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      await store.appendMessages(id, userMessages(5));
      const seqs = async (o: { after?: number; limit: number }) => (await store.listMessages(id, o)).map((r) => r.seq);
      assert.deepEqual(await seqs({ limit: 2 }), [0, 1]);
      assert.deepEqual(await seqs({ after: 1, limit: 2 }), [2, 3]);
      assert.deepEqual(await seqs({ after: 3, limit: 2 }), [4]);
      assert.deepEqual(await seqs({ after: 4, limit: 2 }), []);
      assert.deepEqual(await seqs({ after: -1, limit: 10 }), [0, 1, 2, 3, 4]);
      const page = await store.listMessages(id, { after: 2, limit: 1 });
      assert.deepEqual(
        page.map((r) => r.message),
        [{ role: 'user', content: 'm3' }],
      );
    });

    test('claimRun is exclusive until released or expired; extendRun keeps the claim', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      const minute = () => Date.now() + 60_000;

      assert.equal(await store.claimRun(id, minute()), true);
      assert.equal(await store.claimRun(id, minute()), false, 'a held claim is not granted twice');
      await store.releaseRun(id);
      assert.equal(await store.claimRun(id, minute()), true, 'claimable again after release');
      await store.releaseRun(id);

      assert.equal(await store.claimRun(id, Date.now() + 50), true);
      assert.equal(await store.claimRun(id, minute()), false);
      await sleep(100);
      assert.equal(await store.claimRun(id, minute()), true, 'an expired claim lapses');
      await store.releaseRun(id);

      assert.equal(await store.claimRun(id, Date.now() + 50), true);
      await store.extendRun(id, minute());
      await sleep(100);
      assert.equal(await store.claimRun(id, minute()), false, 'an extended claim is still held');
      await store.releaseRun(id);

      // Claims are per session.
      const other = sid();
      await store.openSession(other, owner(), 't');
      assert.equal(await store.claimRun(id, minute()), true);
      assert.equal(await store.claimRun(other, minute()), true);
      await store.releaseRun(id);
      await store.releaseRun(other);
    });

    test('concurrent claimRun calls: exactly one wins', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      const until = Date.now() + 60_000;
      const results = await Promise.all(Array.from({ length: 10 }, () => store.claimRun(id, until)));
      assert.equal(results.filter(Boolean).length, 1, `results: ${results.join(',')}`);
      await store.releaseRun(id);
    });

    test('a claim on one store instance is seen by another on the same database', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      const other = await openAnother();
      assert.equal(await store.claimRun(id, Date.now() + 60_000), true);
      assert.equal(await other.claimRun(id, Date.now() + 60_000), false);
      await store.releaseRun(id);
      assert.equal(await other.claimRun(id, Date.now() + 60_000), true);
      await other.releaseRun(id);
    });

    test('deleteSession removes the session and its messages; the id can then start afresh', async () => {
      const id = sid();
      const a = owner();
      await store.openSession(id, a, 'old');
      await store.appendMessages(id, userMessages(3));
      assert.equal(await store.deleteSession(id, a), true);

      assert.equal(await store.getSession(id, a), undefined);
      assert.deepEqual(await store.listMessages(id, { limit: 10 }), []);
      assert.deepEqual(await store.recentMessages(id, 10), []);
      assert.ok(!(await store.listSessions(a, { limit: 50 })).some((s) => s.id === id));
      assert.equal(await store.deleteSession(id, a), false, 'deleting twice reports not found');

      const fresh = await store.openSession(id, a, 'new');
      assert.ok(fresh);
      assert.equal(fresh.title, 'new');
      assert.equal(fresh.message_count, 0);
      await store.appendMessages(id, userMessages(1, 'fresh'));
      const rows = await store.listMessages(id, { limit: 10 });
      assert.deepEqual(
        rows.map((r) => [r.seq, r.message]),
        [[0, { role: 'user', content: 'fresh0' }]],
      );
    });

    test('data survives closing and reopening the store', async () => {
      const id = sid();
      const a = owner();
      const first = await openStore(url);
      await first.openSession(id, a, 'persisted');
      await first.appendMessages(id, sampleTurn);
      const before = await first.getSession(id, a);
      await first.close();

      const second = await openAnother();
      assert.deepEqual(await second.getSession(id, a), before);
      assert.deepEqual(
        (await second.listMessages(id, { limit: 10 })).map((r) => r.message),
        sampleTurn,
      );
      assert.deepEqual(await second.recentMessages(id, 2), sampleTurn.slice(2));
    });

    test('ping answers on an open store and fails once it is closed', async () => {
      await store.ping();
      const s = await openStore(url);
      await s.ping();
      await s.close();
      await assert.rejects(s.ping());
    });

    test('migrations are idempotent: opening the same database again works and keeps the data', async () => {
      const id = sid();
      const a = owner();
      await store.openSession(id, a, 'kept');
      const again = await openAnother();
      const yetAgain = await openAnother();
      assert.equal((await again.getSession(id, a))?.title, 'kept');
      assert.equal((await yetAgain.getSession(id, a))?.title, 'kept');
      await yetAgain.ping();
    });
  });
}

// ---------------------------------------------------------------------------------------------

let sqliteDir: string | undefined;
storeContract('sqlite', {
  setup() {
    sqliteDir = mkdtempSync(join(tmpdir(), 'agent-api-store-'));
    return Promise.resolve(`sqlite:${join(sqliteDir, 'x.db')}`);
  },
  teardown() {
    if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true });
    return Promise.resolve();
  },
});

const envUrl = process.env['DATABASE_URL'];
const PG_ADMIN_URL = envUrl && /^postgres(ql)?:\/\//.test(envUrl) ? envUrl : 'postgres://postgres@127.0.0.1:5432/test';
const redact = (u: string) => u.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');

/** A client on PG_ADMIN_URL. PostgreSQL is required: not reaching it is an error that says so. */
async function connectPgAdmin(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new Error(
      `PostgreSQL is required for the store tests but is not reachable at ${redact(PG_ADMIN_URL)} ` +
        `(${(err as Error).message}). Start PostgreSQL or set DATABASE_URL to a postgres:// URL of a role that may CREATE DATABASE.`,
      { cause: err },
    );
  }
  return client;
}

/** PG_ADMIN_URL pointed at another database on the same server. */
function pgUrlFor(database: string): string {
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

let admin: pg.Client | undefined;
let pgDatabase: string | undefined;
storeContract('postgres', {
  async setup() {
    admin = await connectPgAdmin();
    pgDatabase = `agent_api_test_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE DATABASE ${pgDatabase}`);
    return pgUrlFor(pgDatabase);
  },
  async teardown() {
    if (!admin) return;
    try {
      if (pgDatabase) {
        // pg's pool.end() resolves before its sockets are closed; let the closed stores' backends
        // go away on their own so FORCE does not kill them under a still-listening client.
        for (let waited = 0; waited < 5000; waited += 25) {
          const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1', [pgDatabase]);
          if (Number(rows[0]?.n) === 0) break;
          await sleep(25);
        }
        await admin.query(`DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`);
      }
    } finally {
      await admin.end();
    }
  },
});

describe('PostgreSQL store: connection loss', () => {
  nodeTest('a pooled connection dropped by the server does not crash the process; the store keeps working', async () => {
    const pgAdmin = await connectPgAdmin();
    const db = `agent_api_test_drop_${randomBytes(6).toString('hex')}`;
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    let store: Store | undefined;
    try {
      await pgAdmin.query(`CREATE DATABASE ${db}`);
      store = await openStore(pgUrlFor(db));
      await store.ping(); // leaves an idle client in the pool
      await pgAdmin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db]);
      await sleep(300);
      assert.deepEqual(uncaught.map(String), []);
      await store.ping();
    } finally {
      process.off('uncaughtException', onUncaught);
      await store?.close().catch(() => {});
      await sleep(100);
      await pgAdmin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      await pgAdmin.end();
    }
  });
});
