/**
 * The Store contract (src/store/store.ts), one shared suite run against both SQL backends: SQLite
 * (a temp file) and PostgreSQL (a throwaway database created for this run), including the upgrade
 * of a database an older release left; the RunStore contract (test/support/run-store-contract.ts)
 * run against both as well. Then what the PostgreSQL store does when the server drops one of its
 * pooled connections.
 *
 * PostgreSQL is required: if it cannot be reached its tests fail with a message saying so.
 * It uses DATABASE_URL when that is a postgres:// URL, else postgres://postgres@127.0.0.1:5432/test.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, mock, test as nodeTest } from 'node:test';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { ChatMessage } from '../src/core/messages.js';
import { connectDatabase } from '../src/store/connect-database.js';
import { parseDatabaseUrl } from '../src/store/database-url.js';
import { KyselyStore } from '../src/store/kysely-store.js';
import { migrateTo } from '../src/store/migrations.js';
import { openStore } from '../src/store/open-store.js';
import type { Database } from '../src/store/schema.js';
import { sessionCursor } from '../src/store/session-cursor.js';
import type { Storage } from '../src/store/storage.js';
import type { Store } from '../src/store/store.js';
import type { NewApiKey } from '../src/store/key-store.js';
import { requiredSetup } from './support/required-setup.js';
import {
  events,
  HOUR,
  iso,
  newRun,
  NO_LOGS,
  outcome,
  owner,
  rid,
  runStoreContract,
  sid,
  type LogsLeft,
  type RunStoreBackend,
} from './support/run-store-contract.js';

/** Where a backend's databases live: each `create` is another empty one, all removed by `teardown`. */
interface Locations {
  /** Creates an empty location (a database file, a database on the server) and returns its DATABASE_URL. */
  create(): Promise<string>;
  teardown(): Promise<void>;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Runs `fn` with Date frozen, moved on only by `tick`: claims expire when the test says, however
 * slow the machine. (The store reads the same Date, and the databases are handed every time.)
 */
async function withFrozenClock(fn: (tick: (ms: number) => void) => Promise<void>): Promise<void> {
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
  try {
    await fn((ms) => mock.timers.tick(ms));
  } finally {
    mock.timers.reset();
  }
}

/** A Kysely instance on the location, outside any store: to count rows and to build old schemas. */
async function withDatabase<T>(url: string, fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const db = connectDatabase(parseDatabaseUrl(url)!);
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

/** The logs and events in run_events of these runs (without ids, of every run), read outside any store; a row holds events seq..last_seq. */
async function countLogs(db: Kysely<Database>, runIds?: readonly string[]): Promise<LogsLeft> {
  const count = async (ids?: readonly string[]): Promise<LogsLeft> => {
    let query = db
      .selectFrom('run_events')
      .select((eb) => [eb.fn.count('run_id').distinct().as('logs'), eb.fn.coalesce(eb.fn.sum(sql<number>`last_seq - seq + 1`), eb.lit(0)).as('events')]);
    if (ids) query = query.where('run_id', 'in', ids);
    const row = await query.executeTakeFirstOrThrow();
    return { logs: Number(row.logs), events: Number(row.events) };
  };
  if (!runIds) return count();
  const left = { ...NO_LOGS };
  for (let i = 0; i < runIds.length; i += 500) {
    const part = await count(runIds.slice(i, i + 500));
    left.logs += part.logs;
    left.events += part.events;
  }
  return left;
}

const sampleTurn: ChatMessage[] = [
  { role: 'user', content: 'what is 2+2?' },
  { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'calculator', arguments: { expression: '2+2' } }] },
  { role: 'tool', tool_call_id: 'call_1', name: 'calculator', result: { expression: '2+2', result: 4 } },
  { role: 'assistant', content: 'It is 4. ✓ 日本語 "quotes" \\ backslash' },
];

function userMessages(n: number, prefix = 'm'): ChatMessage[] {
  return Array.from({ length: n }, (_, i) => ({ role: 'user', content: `${prefix}${i}` }));
}

function storeContract(name: string, locations: Locations): void {
  describe(`Store contract: ${name}`, () => {
    let url: string;
    let store: Storage;
    const extra: Store[] = [];
    /** Opens another store on the same location; closed in `after` unless the test closes it. */
    const openAnother = async (): Promise<Storage> => {
      const s = await openStore(url);
      extra.push(s);
      return s;
    };

    // A setup failure (PostgreSQL down) fails every test with its message instead of cancelling them.
    const test = requiredSetup(async () => {
      url = await locations.create();
      store = await openStore(url);
    });

    after(async () => {
      for (const s of extra) await s.close().catch(() => {});
      await store?.close().catch(() => {});
      await locations.teardown();
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

    test("two owners may use the same id: each has their own session and nothing of the other's", async () => {
      const id = sid();
      const [a, b] = [owner(), owner()];
      const mine = await store.openSession(id, a, 'mine');
      await store.appendMessages(id, a, userMessages(2));

      assert.equal(await store.getSession(id, b), undefined, "another owner's id reads as unknown");
      assert.deepEqual(await store.listSessions(b, { limit: 50 }), []);
      assert.equal(await store.deleteSession(id, b), false);
      assert.deepEqual(await store.listMessages(id, b, { limit: 10 }), []);
      assert.deepEqual(await store.recentMessages(id, b, 10), []);
      await assert.rejects(store.appendMessages(id, b, userMessages(1)), 'nothing is appended to a session the owner does not have');

      const theirs = await store.openSession(id, b, 'theirs');
      assert.equal(theirs.id, id);
      assert.equal(theirs.title, 'theirs', 'a new session, not the other owner’s');
      assert.equal(theirs.message_count, 0);
      await store.appendMessages(id, b, userMessages(1, 'b'));
      assert.deepEqual(
        (await store.listMessages(id, b, { limit: 10 })).map((r) => [r.seq, r.message]),
        [[0, { role: 'user', content: 'b0' }]],
      );
      assert.deepEqual(
        (await store.recentMessages(id, a, 10)).map((m) => (m as { content: string }).content),
        ['m0', 'm1'],
      );

      // Claims are per owner's session: a run of one owner does not make the other's busy.
      const [ta, tb] = [rid(), rid()];
      assert.equal(await store.claimSession(id, a, ta, Date.now() + 60_000), true);
      assert.equal(await store.claimSession(id, b, tb, Date.now() + 60_000), true);
      assert.equal((await store.sessionClaim(id, a))?.token, ta);
      assert.equal((await store.sessionClaim(id, b))?.token, tb);
      await store.releaseSession(id, a, tb);
      assert.equal((await store.sessionClaim(id, a))?.token, ta, "one owner's token cannot release the other's claim");
      assert.equal(await store.renewSession(id, b, ta, Date.now() + 60_000), false);
      await store.releaseSession(id, a, ta);
      await store.releaseSession(id, b, tb);

      assert.equal(await store.deleteSession(id, b), true);
      const still = await store.getSession(id, a);
      assert.ok(still, "deleting one owner's session left the other's in place");
      assert.equal(still.title, mine.title);
      assert.equal(still.message_count, 2);
      assert.equal((await store.listMessages(id, a, { limit: 10 })).length, 2);
      assert.deepEqual(
        (await store.listSessions(a, { limit: 50 })).map((s) => s.id),
        [id],
      );
    });

    test('owners racing to open the same new id each get their own session; one owner racing itself gets one', async () => {
      const id = sid();
      const owners = Array.from({ length: 6 }, owner);
      const results = await Promise.all(owners.map((o) => store.openSession(id, o, o)));
      assert.deepEqual(
        results.map((r) => r.title),
        owners,
      );
      for (const o of owners) assert.equal((await store.getSession(id, o))?.title, o);

      const same = owner();
      const opened = await Promise.all(Array.from({ length: 6 }, (_, i) => store.openSession(id, same, `title ${i}`)));
      assert.equal(new Set(opened.map((s) => s.title)).size, 1, 'every request got the one session');
      assert.equal((await store.listSessions(same, { limit: 50 })).length, 1);
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
      await store.appendMessages(s1, a, userMessages(1)); // s1 becomes the most recent

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

      await store.appendMessages(id, a, sampleTurn.slice(0, 2));
      await store.appendMessages(id, a, []); // a no-op
      await store.appendMessages(id, a, sampleTurn.slice(2));
      await store.appendMessages(id, a, [{ role: 'user', content: 'next' }]);

      const rows = await store.listMessages(id, a, { limit: 100 });
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
      const o = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      await Promise.all(Array.from({ length: 8 }, (_, i) => store.appendMessages(id, o, userMessages(2, `batch${i}-`))));
      const rows = await store.listMessages(id, o, { limit: 100 });
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
      await assert.rejects(store.appendMessages(sid(), owner(), userMessages(1)));
    });

    test('recentMessages returns the last N messages, oldest first', async () => {
      const o = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      await store.appendMessages(id, o, userMessages(3));
      await store.appendMessages(id, o, userMessages(3, 'n'));
      const contents = async (n: number) => (await store.recentMessages(id, o, n)).map((m) => (m as { content: string }).content);
      assert.deepEqual(await contents(4), ['m2', 'n0', 'n1', 'n2']);
      assert.deepEqual(await contents(1), ['n2']);
      assert.deepEqual(await contents(100), ['m0', 'm1', 'm2', 'n0', 'n1', 'n2']);
      assert.deepEqual(await contents(0), []);
      assert.deepEqual(await store.recentMessages(sid(), owner(), 10), []);
    });

    test('listMessages pages with after + limit', async () => {
      const o = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      await store.appendMessages(id, o, userMessages(5));
      const seqs = async (page: { after?: number; limit: number }) => (await store.listMessages(id, o, page)).map((r) => r.seq);
      assert.deepEqual(await seqs({ limit: 2 }), [0, 1]);
      assert.deepEqual(await seqs({ after: 1, limit: 2 }), [2, 3]);
      assert.deepEqual(await seqs({ after: 3, limit: 2 }), [4]);
      assert.deepEqual(await seqs({ after: 4, limit: 2 }), []);
      assert.deepEqual(await seqs({ after: -1, limit: 10 }), [0, 1, 2, 3, 4]);
      const page = await store.listMessages(id, o, { after: 2, limit: 1 });
      assert.deepEqual(
        page.map((r) => r.message),
        [{ role: 'user', content: 'm3' }],
      );
    });

    test('supersedeAnswer marks every message after the last user message superseded, for its owner only', async () => {
      const o = owner();
      const other = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      await store.openSession(id, other, 't');
      assert.equal(await store.supersedeAnswer(id, o), false, 'no user message yet');
      assert.equal(await store.supersedeAnswer(sid(), o), false, 'no session');
      const earlier: ChatMessage[] = [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'first answer' },
      ];
      await store.appendMessages(id, o, [...earlier, ...sampleTurn]);
      await store.appendMessages(id, other, sampleTurn);
      const count = (await store.getSession(id, o))?.message_count;

      assert.equal(await store.supersedeAnswer(id, o), true);
      const rows = await store.listMessages(id, o, { limit: 100 });
      const answer = sampleTurn.slice(1).map((m) => ({ ...m, superseded: true }));
      assert.deepEqual(
        rows.map((r) => r.message),
        [...earlier, sampleTurn[0], ...answer],
      );
      assert.equal((await store.getSession(id, o))?.message_count, count, 'nothing added or removed');
      // The other owner's session with the same id is untouched.
      assert.deepEqual(
        (await store.listMessages(id, other, { limit: 100 })).map((r) => r.message),
        sampleTurn,
      );

      // Again, after a new answer: the old one stays superseded, the new one is superseded too.
      await store.appendMessages(id, o, [{ role: 'assistant', content: 'second try' }]);
      assert.equal(await store.supersedeAnswer(id, o), true);
      assert.deepEqual((await store.recentMessages(id, o, 1))[0], { role: 'assistant', content: 'second try', superseded: true });
      assert.deepEqual(
        (await store.listMessages(id, o, { limit: 100 })).slice(3, -1).map((r) => r.message),
        answer,
      );

      // A session ending with its user message: nothing to mark, and there is a message to answer.
      await store.appendMessages(id, o, [{ role: 'user', content: 'latest' }]);
      assert.equal(await store.supersedeAnswer(id, o), true);
      assert.deepEqual((await store.recentMessages(id, o, 1))[0], { role: 'user', content: 'latest' });
    });

    test('claimSession is exclusive until released or expired; another token can neither renew nor release it', async () => {
      const o = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      const [t1, t2] = [rid(), rid()];
      const minute = () => Date.now() + 60_000;

      assert.equal(await store.sessionClaim(id, o), undefined, 'nobody holds a new session');
      const until = minute();
      assert.equal(await store.claimSession(id, o, t1, until), true);
      assert.deepEqual(await store.sessionClaim(id, o), { token: t1, until });
      assert.equal(await store.claimSession(id, o, t2, minute()), false, 'a held claim is not granted to another run');
      assert.equal(await store.renewSession(id, o, t2, minute()), false, 'another token cannot renew it');
      await store.releaseSession(id, o, t2);
      assert.equal((await store.sessionClaim(id, o))?.token, t1, 'another token cannot release it');
      assert.equal(await store.claimSession(id, o, t2, minute()), false);
      assert.equal(await store.claimSession(id, o, t1, until + 1000), true, 'the holder may claim again (a retried claim)');
      assert.deepEqual(await store.sessionClaim(id, o), { token: t1, until: until + 1000 });

      await store.releaseSession(id, o, t1);
      assert.equal(await store.sessionClaim(id, o), undefined);
      assert.equal(await store.renewSession(id, o, t1, minute()), false, 'a released claim cannot be renewed');
      assert.equal(await store.claimSession(id, o, t2, minute()), true, 'claimable again after release');
      await store.releaseSession(id, o, t2);

      // A renewed claim outlives its first expiry.
      await withFrozenClock(async (tick) => {
        assert.equal(await store.claimSession(id, o, t1, Date.now() + 50), true);
        assert.equal(await store.renewSession(id, o, t1, minute()), true);
        tick(100);
        assert.equal(await store.claimSession(id, o, t2, minute()), false, 'a renewed claim is still held');
      });
      await store.releaseSession(id, o, t1);

      // Claims are per session, and a session that does not exist cannot be claimed.
      const other = sid();
      await store.openSession(other, o, 't');
      assert.equal(await store.claimSession(id, o, t1, minute()), true);
      assert.equal(await store.claimSession(other, o, t2, minute()), true);
      await store.releaseSession(id, o, t1);
      await store.releaseSession(other, o, t2);
      assert.equal(await store.claimSession(sid(), owner(), t1, minute()), false);
      assert.equal(await store.sessionClaim(sid(), owner()), undefined);
    });

    test('an expired claim is taken by another token; the first one is then fenced out', async () => {
      const o = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      const [t1, t2] = [rid(), rid()];
      await withFrozenClock(async (tick) => {
        assert.equal(await store.claimSession(id, o, t1, Date.now() + 50), true);
        assert.equal(await store.claimSession(id, o, t2, Date.now() + 60_000), false);
        tick(50);
        assert.equal((await store.sessionClaim(id, o))?.token, t1, 'held until its last millisecond');
        tick(1);
        assert.equal(await store.sessionClaim(id, o), undefined, 'an expired claim is nobody’s');
        assert.equal(await store.claimSession(id, o, t2, Date.now() + 60_000), true, 'an expired claim lapses');
      });

      assert.equal(await store.renewSession(id, o, t1, Date.now() + 60_000), false, 'the first run lost its claim');
      await store.releaseSession(id, o, t1);
      assert.equal((await store.sessionClaim(id, o))?.token, t2, "the first run's release did not free the new claim");
      assert.equal(await store.claimSession(id, o, t1, Date.now() + 60_000), false);
      assert.equal(await store.renewSession(id, o, t2, Date.now() + 60_000), true);
      await store.releaseSession(id, o, t2);
      assert.equal(await store.sessionClaim(id, o), undefined);
    });

    test('concurrent claimSession calls by different runs: exactly one wins', async () => {
      const o = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      const until = Date.now() + 60_000;
      const tokens = Array.from({ length: 10 }, rid);
      const results = await Promise.all(tokens.map((t) => store.claimSession(id, o, t, until)));
      assert.equal(results.filter(Boolean).length, 1, `results: ${results.join(',')}`);
      const winner = tokens[results.indexOf(true)]!;
      assert.deepEqual(await store.sessionClaim(id, o), { token: winner, until });
      await store.releaseSession(id, o, winner);
    });

    test('active_run_id is the token of the unexpired claim in openSession, getSession and listSessions', async () => {
      const id = sid();
      const a = owner();
      const opened = await store.openSession(id, a, 't');
      assert.equal(opened?.active_run_id, null);
      const active = async () => ({
        get: (await store.getSession(id, a))?.active_run_id,
        list: (await store.listSessions(a, { limit: 10 }))[0]?.active_run_id,
        open: (await store.openSession(id, a, 't'))?.active_run_id,
      });

      const t1 = rid();
      await store.claimSession(id, a, t1, Date.now() + 60_000);
      assert.deepEqual(await active(), { get: t1, list: t1, open: t1 });
      await store.releaseSession(id, a, t1);
      assert.deepEqual(await active(), { get: null, list: null, open: null }, 'null after release');

      const t2 = rid();
      await withFrozenClock(async (tick) => {
        await store.claimSession(id, a, t2, Date.now() + 50);
        assert.deepEqual(await active(), { get: t2, list: t2, open: t2 });
        tick(100);
        assert.deepEqual(await active(), { get: null, list: null, open: null }, 'null once the claim expired');
      });
    });

    test('a claim on one store instance is seen by another on the same database', async () => {
      const o = owner();
      const id = sid();
      await store.openSession(id, o, 't');
      const other = await openAnother();
      const [t1, t2] = [rid(), rid()];
      assert.equal(await store.claimSession(id, o, t1, Date.now() + 60_000), true);
      assert.equal(await other.claimSession(id, o, t2, Date.now() + 60_000), false);
      assert.equal((await other.sessionClaim(id, o))?.token, t1);
      await store.releaseSession(id, o, t1);
      assert.equal(await other.claimSession(id, o, t2, Date.now() + 60_000), true);
      await other.releaseSession(id, o, t2);
    });

    test('deleteSession removes the session and its messages; the id can then start afresh', async () => {
      const id = sid();
      const a = owner();
      await store.openSession(id, a, 'old');
      await store.appendMessages(id, a, userMessages(3));
      assert.equal(await store.deleteSession(id, a), true);

      assert.equal(await store.getSession(id, a), undefined);
      assert.deepEqual(await store.listMessages(id, a, { limit: 10 }), []);
      assert.deepEqual(await store.recentMessages(id, a, 10), []);
      assert.ok(!(await store.listSessions(a, { limit: 50 })).some((s) => s.id === id));
      assert.equal(await store.deleteSession(id, a), false, 'deleting twice reports not found');

      const fresh = await store.openSession(id, a, 'new');
      assert.ok(fresh);
      assert.equal(fresh.title, 'new');
      assert.equal(fresh.message_count, 0);
      await store.appendMessages(id, a, userMessages(1, 'fresh'));
      const rows = await store.listMessages(id, a, { limit: 10 });
      assert.deepEqual(
        rows.map((r) => [r.seq, r.message]),
        [[0, { role: 'user', content: 'fresh0' }]],
      );
    });

    test('sessions, messages and claims survive closing and reopening the store', async () => {
      const id = sid();
      const a = owner();
      const first = await openStore(url);
      await first.openSession(id, a, 'persisted');
      await first.appendMessages(id, a, sampleTurn);
      const claim = { token: rid(), until: Date.now() + 60_000 };
      await first.claimSession(id, a, claim.token, claim.until);
      const before = await first.getSession(id, a);
      await first.close();

      const second = await openAnother();
      assert.deepEqual(await second.getSession(id, a), before);
      assert.equal(before?.active_run_id, claim.token);
      assert.deepEqual(
        (await second.listMessages(id, a, { limit: 10 })).map((r) => r.message),
        sampleTurn,
      );
      assert.deepEqual(await second.recentMessages(id, a, 2), sampleTurn.slice(2));
      assert.deepEqual(await second.sessionClaim(id, a), claim);
      assert.equal(await second.renewSession(id, a, claim.token, claim.until + 1), true, 'the claim is still its holder’s');
      await second.releaseSession(id, a, claim.token);
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

    test('a database created at migration 001 is upgraded: its sessions and messages are kept and take runs', async () => {
      const oldUrl = await locations.create();
      const a = owner();
      const [plain, lapsed, held] = [sid(), sid(), sid()];
      const created = iso(Date.now() - 60_000);
      await withDatabase(oldUrl, async (db) => {
        await migrateTo(db as unknown as Kysely<unknown>, '001_sessions_messages');
        await assert.rejects(sql`SELECT count(*) FROM runs`.execute(db), 'at 001 there is no runs table');
        // As release 001 wrote them: no lease_token; claims were a bare busy_until.
        const session = (id: string, title: string, count: number, busyUntil: string | null) =>
          sql`INSERT INTO sessions (id, owner, title, message_count, busy_until, created_at, updated_at)
              VALUES (${id}, ${a}, ${title}, ${count}, ${busyUntil}, ${created}, ${created})`.execute(db);
        await session(plain, 'plain', 2, null);
        await session(lapsed, 'lapsed', 0, iso(Date.now() - 1_000));
        await session(held, 'held', 0, iso(Date.now() + 60_000));
        for (const [seq, m] of sampleTurn.slice(0, 2).entries()) {
          await sql`INSERT INTO messages (session_id, seq, role, data, created_at) VALUES (${plain}, ${seq}, ${m.role}, ${JSON.stringify(m)}, ${created})`.execute(
            db,
          );
        }
      });

      const upgraded = await openStore(oldUrl);
      try {
        assert.deepEqual(await upgraded.getSession(plain, a), {
          id: plain,
          title: 'plain',
          message_count: 2,
          created_at: created,
          updated_at: created,
          active_run_id: null,
          agent: null,
        });
        assert.deepEqual((await upgraded.listSessions(a, { limit: 10 })).map((s) => s.id).sort(), [plain, lapsed, held].sort());
        assert.deepEqual(
          (await upgraded.listMessages(plain, a, { limit: 10 })).map((r) => r.message),
          sampleTurn.slice(0, 2),
        );
        await upgraded.appendMessages(plain, a, sampleTurn.slice(2));
        assert.deepEqual(
          (await upgraded.listMessages(plain, a, { limit: 10 })).map((r) => r.seq),
          [0, 1, 2, 3],
        );

        // An old claim that lapsed is free; one still running (an old process mid-turn during a
        // rolling upgrade) keeps the session until it expires, though it names no run.
        assert.equal(await upgraded.claimSession(lapsed, a, rid(), Date.now() + 60_000), true);
        assert.equal(await upgraded.claimSession(held, a, rid(), Date.now() + 60_000), false);
        assert.equal(await upgraded.sessionClaim(held, a), undefined);
        assert.equal((await upgraded.getSession(held, a))?.active_run_id, null);

        const token = rid();
        assert.equal(await upgraded.claimSession(plain, a, token, Date.now() + 60_000), true);
        assert.equal((await upgraded.getSession(plain, a))?.active_run_id, token);
        const run = newRun(a, { id: token, session_id: plain });
        await upgraded.createRun(run);
        await upgraded.appendRunEvents(run.id, events(1, 3));
        assert.equal(await upgraded.finishRun(run.id, outcome()), true);
        await upgraded.releaseSession(plain, a, token);
        assert.equal((await upgraded.listRuns(plain, a, { limit: 10 }))[0]?.status, 'completed');
        assert.equal(await upgraded.deleteSession(plain, a), true);
        assert.equal(await upgraded.getRun(run.id, a), undefined);
        assert.deepEqual(await withDatabase(oldUrl, (db) => countLogs(db, [run.id])), NO_LOGS);
      } finally {
        await upgraded.close();
      }
    });

    test('a database at migration 002 is upgraded to per-owner ids: sessions, messages, claims and runs are kept', async () => {
      const oldUrl = await locations.create();
      const [a, b] = [owner(), owner()];
      const id = sid();
      const token = rid();
      const created = iso(Date.now() - 60_000);
      await withDatabase(oldUrl, async (db) => {
        await migrateTo(db as unknown as Kysely<unknown>, '002_runs');
        await sql`INSERT INTO sessions (id, owner, title, message_count, busy_until, lease_token, created_at, updated_at)
              VALUES (${id}, ${a}, ${'kept'}, ${2}, ${iso(Date.now() + 60_000)}, ${token}, ${created}, ${created})`.execute(db);
        for (const [seq, m] of sampleTurn.slice(0, 2).entries()) {
          await sql`INSERT INTO messages (session_id, seq, role, data, created_at) VALUES (${id}, ${seq}, ${m.role}, ${JSON.stringify(m)}, ${created})`.execute(
            db,
          );
        }
        // A message whose session is gone (no release ever wrote one, but a hand-edited database might): dropped.
        await sql`INSERT INTO messages (session_id, seq, role, data, created_at) VALUES (${sid()}, ${0}, ${'user'}, ${'{}'}, ${created})`.execute(db);
      });

      const upgraded = await openStore(oldUrl);
      try {
        await upgraded.createRun(newRun(a, { id: token, session_id: id }));
        assert.deepEqual(await upgraded.getSession(id, a), {
          id,
          title: 'kept',
          message_count: 2,
          created_at: created,
          updated_at: created,
          active_run_id: token,
          agent: null,
        });
        assert.deepEqual(
          (await upgraded.listMessages(id, a, { limit: 10 })).map((r) => r.message),
          sampleTurn.slice(0, 2),
        );
        assert.deepEqual((await upgraded.sessionClaim(id, a))?.token, token, 'the claim survived the upgrade');
        assert.equal((await upgraded.listRuns(id, a, { limit: 10 }))[0]?.id, token);

        // Now another owner may take the same id.
        const theirs = await upgraded.openSession(id, b, 'theirs');
        assert.equal(theirs.message_count, 0);
        assert.equal(await upgraded.claimSession(id, b, rid(), Date.now() + 60_000), true);
        assert.deepEqual(await upgraded.listRuns(id, b, { limit: 10 }), []);
        assert.equal((await upgraded.getSession(id, a))?.active_run_id, token);
      } finally {
        await upgraded.close();
      }
      const count = (table: string) =>
        withDatabase(oldUrl, async (db) => Number((await sql<{ n: number }>`SELECT count(*) AS n FROM ${sql.table(table)}`.execute(db)).rows[0]?.n));
      assert.equal(await count('messages'), 2, 'the orphan message did not survive the rebuild');
    });

    test('migration 003 rolls back to 002 while no two owners share an id, and applies again', async () => {
      const u = await locations.create();
      const a = owner();
      const id = sid();
      const first = await openStore(u);
      try {
        await first.openSession(id, a, 'kept');
        await first.appendMessages(id, a, sampleTurn);
      } finally {
        await first.close();
      }
      await withDatabase(u, (db) => migrateTo(db as unknown as Kysely<unknown>, '002_runs'));
      const again = await openStore(u);
      try {
        assert.equal((await again.getSession(id, a))?.title, 'kept');
        assert.deepEqual(
          (await again.listMessages(id, a, { limit: 10 })).map((r) => r.message),
          sampleTurn,
        );
      } finally {
        await again.close();
      }
    });

    test('migration 002 rolls back to 001, keeping sessions, and applies again', async () => {
      const u = await locations.create();
      const a = owner();
      const id = sid();
      const first = await openStore(u);
      try {
        await first.openSession(id, a, 'kept');
        await first.claimSession(id, a, rid(), Date.now() + 60_000);
        await first.createRun(newRun(a, { session_id: id }));
      } finally {
        await first.close();
      }
      await withDatabase(u, async (db) => {
        await migrateTo(db as unknown as Kysely<unknown>, '001_sessions_messages');
        await assert.rejects(sql`SELECT count(*) FROM runs`.execute(db));
        await assert.rejects(sql`SELECT lease_token FROM sessions`.execute(db));
      });
      const again = await openStore(u);
      try {
        const s = await again.getSession(id, a);
        assert.equal(s?.title, 'kept');
        assert.equal(s?.active_run_id, null, 'the claim lost its token with the column');
        assert.deepEqual(await again.listRuns(id, a, { limit: 10 }), []);
      } finally {
        await again.close();
      }
    });

    /** What migration 004 changed: SQLite's tables without rowid, and the partial indexes on runs. */
    const leanSchema = (db: Kysely<Database>) =>
      name === 'sqlite'
        ? sql<{
            name: string;
            sql: string;
          }>`SELECT name, sql FROM sqlite_master WHERE tbl_name IN ('sessions', 'messages', 'runs', 'run_events') ORDER BY name`.execute(db)
        : sql<{ name: string; sql: string }>`SELECT indexname AS name, indexdef AS sql FROM pg_indexes WHERE tablename = 'runs' ORDER BY indexname`.execute(db);

    test('a database at migration 003 is upgraded to lean tables: sessions, messages, runs and their logs are kept and work', async () => {
      const oldUrl = await locations.create();
      const a = owner();
      const id = sid();
      const [live, expired, kept] = [rid(), rid(), rid()];
      await withDatabase(oldUrl, async (db) => {
        await migrateTo(db as unknown as Kysely<unknown>, '003_sessions_per_owner');
        // The queries of release 003 were those of today's store, but for the session's insert
        // (today's names the agent, a column of migration 005): it writes the old schema as that release did.
        const old = new KyselyStore(db);
        const now = new Date().toISOString();
        await sql`INSERT INTO sessions (owner, id, title, message_count, created_at, updated_at) VALUES (${a}, ${id}, 'kept', 0, ${now}, ${now})`.execute(db);
        await old.appendMessages(id, a, sampleTurn);
        assert.equal(await old.claimSession(id, a, live, 5_000), true);
        await old.createRun(newRun(a, { id: live, session_id: id, created_at: iso(1_000), lease_until: 5_000 }));
        await old.appendRunEvents(live, events(1, 3));
        for (const [run, expiresAt] of [
          [expired, 10_000],
          [kept, Date.now() + HOUR],
        ] as const) {
          await old.createRun(newRun(a, { id: run, session_id: id, created_at: iso(expiresAt === 10_000 ? 2_000 : 3_000) }));
          assert.equal(await old.finishRun(run, outcome({ events_expire_at: expiresAt }), events(1, 2)), true);
        }
      });

      const upgraded = await openStore(oldUrl);
      try {
        const session = await upgraded.getSession(id, a);
        assert.deepEqual([session?.title, session?.message_count], ['kept', sampleTurn.length]);
        assert.deepEqual(
          (await upgraded.listMessages(id, a, { limit: 10 })).map((r) => r.message),
          sampleTurn,
        );
        assert.deepEqual((await upgraded.sessionClaim(id, a))?.token, undefined, 'the claim (until 5 s after the epoch) has lapsed');
        assert.deepEqual(
          (await upgraded.listRuns(id, a, { limit: 10 })).map((r) => r.id),
          [kept, expired, live],
        );
        assert.deepEqual(await upgraded.readRunEvents(live, 0, 10), events(1, 3));
        assert.equal((await upgraded.getRun(kept, a))?.reply, 'done');
        // The sweeper and the pruner find the old rows through the new indexes.
        assert.deepEqual(
          (await upgraded.staleRuns(Date.now(), 10)).map((r) => r.id),
          [live],
        );
        assert.equal(await upgraded.pruneRunEvents(Date.now(), 10), 1);
        assert.equal((await upgraded.getRun(expired, a))?.events_pruned, true);
        assert.deepEqual(await upgraded.readRunEvents(kept, 0, 10), events(1, 2));
        // New rows go in beside them, and the log's foreign key still holds.
        await upgraded.appendRunEvents(live, events(4, 1));
        assert.equal(await upgraded.finishRun(live, outcome(), events(5, 1)), true);
        assert.deepEqual(await upgraded.staleRuns(Date.now(), 10), []);
        assert.equal(await upgraded.deleteSession(id, a), true);
        await assert.rejects(upgraded.appendRunEvents(kept, events(3, 1)), 'a log cannot outlive its run');
        assert.deepEqual(await withDatabase(oldUrl, (db) => countLogs(db, [live, expired, kept])), NO_LOGS);

        const schema = (await withDatabase(oldUrl, leanSchema)).rows;
        if (name === 'sqlite') {
          for (const table of ['sessions', 'messages', 'runs', 'run_events'])
            assert.match(schema.find((r) => r.name === table)?.sql ?? '', /without rowid$/i, table);
          assert.match(schema.find((r) => r.name === 'run_events')?.sql ?? '', /references "runs"/);
        }
        assert.deepEqual(
          schema.filter((r) => r.name.startsWith('runs_') && r.name !== 'runs_pkey').map((r) => [r.name, /where/i.test(r.sql)]),
          [
            ['runs_live_lease', true],
            ['runs_owner_session_created', false],
            ['runs_unpruned_expire', true],
          ],
        );
      } finally {
        await upgraded.close();
      }
    });

    test('migration 004 rolls back to 003, keeping everything, and applies again', async () => {
      const u = await locations.create();
      const a = owner();
      const id = sid();
      const run = rid();
      const first = await openStore(u);
      try {
        await first.openSession(id, a, 'kept');
        await first.appendMessages(id, a, sampleTurn);
        await first.createRun(newRun(a, { id: run, session_id: id }));
        assert.equal(await first.finishRun(run, outcome(), events(1, 3)), true);
      } finally {
        await first.close();
      }
      await withDatabase(u, async (db) => {
        const lean = (await leanSchema(db)).rows;
        await migrateTo(db as unknown as Kysely<unknown>, '003_sessions_per_owner');
        const rolledBack = (await leanSchema(db)).rows;
        assert.notDeepEqual(rolledBack, lean);
        assert.ok(!rolledBack.some((r) => /without rowid|where/i.test(r.sql ?? '')), 'the tables and indexes of 003 are back');
        assert.equal((await new KyselyStore(db).getRun(run, a))?.status, 'completed');
      });
      const again = await openStore(u);
      try {
        assert.equal((await again.getSession(id, a))?.message_count, sampleTurn.length);
        assert.deepEqual(
          (await again.listMessages(id, a, { limit: 10 })).map((r) => r.message),
          sampleTurn,
        );
        assert.deepEqual(await again.readRunEvents(run, 0, 10), events(1, 3));
        assert.equal(await again.deleteSession(id, a), true);
        assert.deepEqual(await withDatabase(u, (db) => countLogs(db, [run])), NO_LOGS);
      } finally {
        await again.close();
      }
    });

    test("migration 005 rolls back to 004, dropping the sessions' agents only, and applies again: they read as the default (null)", async () => {
      const u = await locations.create();
      const a = owner();
      const id = sid();
      const first = await openStore(u);
      try {
        await first.openSession(id, a, 'kept', 'math');
        await first.appendMessages(id, a, sampleTurn);
      } finally {
        await first.close();
      }
      await withDatabase(u, (db) => migrateTo(db as unknown as Kysely<unknown>, '004_lean_runs'));
      const again = await openStore(u);
      try {
        const session = await again.getSession(id, a);
        assert.deepEqual([session?.title, session?.message_count, session?.agent], ['kept', sampleTurn.length, null]);
        assert.equal((await again.openSession(sid(), a, 't', 'math')).agent, 'math');
      } finally {
        await again.close();
      }
    });

    const newKey = (over: Partial<NewApiKey> = {}): NewApiKey => ({
      id: `key_${randomBytes(8).toString('hex')}`,
      name: 'ci',
      key_hash: randomBytes(32).toString('hex'),
      created_at: iso(),
      rate_limit_per_minute: null,
      token_budget: null,
      ...over,
    });

    test('managed keys: created, found by hash or id, listed, touched, revoked (once), never two with one hash', async () => {
      const k = newKey({ name: 'team a', rate_limit_per_minute: 30, token_budget: 5_000_000_000_000 });
      const created = await store.createKey(k);
      assert.deepEqual(created, { ...k, last_used_at: null, revoked_at: null, tokens_used: 0 });
      assert.deepEqual(await store.keyByHash(k.key_hash), created, 'BIGINT budgets read back as numbers');
      assert.deepEqual(await store.getKey(k.id), created);
      assert.equal(await store.keyByHash(randomBytes(32).toString('hex')), undefined);
      assert.equal(await store.getKey('key_unknown'), undefined);
      await assert.rejects(store.createKey(newKey({ key_hash: k.key_hash })), 'a second key with the same hash is refused');

      const later = newKey({ created_at: iso(Date.now() + 1000) });
      await store.createKey(later);
      const listed = (await store.listKeys()).filter((r) => r.id === k.id || r.id === later.id).map((r) => r.id);
      assert.deepEqual(listed, [k.id, later.id], 'oldest first');

      const used = iso(Date.now() + 5000);
      await store.touchKey(k.id, used);
      assert.equal((await store.getKey(k.id))?.last_used_at, used);

      const changed = await store.updateKey(k.id, { token_budget: 10, name: 'team b' });
      assert.deepEqual([changed?.name, changed?.token_budget, changed?.rate_limit_per_minute], ['team b', 10, 30], 'what is left out stays');
      assert.equal((await store.updateKey(k.id, { token_budget: null, rate_limit_per_minute: null }))?.token_budget, null, 'null clears a limit');
      assert.deepEqual(await store.updateKey(k.id, {}), await store.getKey(k.id), 'no change: the key as it is');
      assert.equal(await store.updateKey('key_unknown', { name: 'x' }), undefined);

      const at = iso();
      const revoked = await store.revokeKey(k.id, at);
      assert.equal(revoked?.revoked_at, at);
      assert.equal((await store.keyByHash(k.key_hash))?.revoked_at, at, 'found by hash still, revoked');
      assert.equal((await store.revokeKey(k.id, iso(Date.now() + 60_000)))?.revoked_at, at, 'revoking again keeps the first time');
      assert.equal(await store.revokeKey('key_unknown', at), undefined);
    });

    test("usage: recorded once per run, under the owner's managed key (adding to its tokens_used), and grouped by day, session, model, agent and key", async () => {
      const managed = newKey();
      await store.createKey(managed);
      const plain = owner();
      // A window of its own (year 2001), so other tests' runs are outside it.
      const t = (day: number, hour = 12) => `2001-02-${String(day).padStart(2, '0')}T${String(hour).padStart(2, '0')}:00:00.000Z`;
      const s1 = sid();
      const rec = (o: string, day: number, session: string | null, model: string | null, input: number, output: number, run = rid()) =>
        store.recordUsage({ run_id: run, owner: o, session_id: session, agent: 'math', model, input_tokens: input, output_tokens: output, created_at: t(day) });
      const once = rid();
      await rec(managed.key_hash, 1, s1, 'm1', 100, 10, once);
      await rec(managed.key_hash, 1, s1, 'm1', 100, 10, once); // the same run again: ignored
      await rec(managed.key_hash, 2, null, 'm2', 50, 5);
      await rec(plain, 2, s1, null, 7, 1);

      assert.equal((await store.getKey(managed.id))?.tokens_used, 165, 'input and output of each run once');
      const window = { from: t(1, 0), to: t(3, 0), limit: 100 };
      const mine = await store.usage({ ...window, owner: managed.key_hash, groupBy: 'day' });
      assert.deepEqual(mine.rows, [
        { group: '2001-02-01', runs: 1, input_tokens: 100, output_tokens: 10 },
        { group: '2001-02-02', runs: 1, input_tokens: 50, output_tokens: 5 },
      ]);
      assert.deepEqual(mine.total, { runs: 2, input_tokens: 150, output_tokens: 15 });
      assert.deepEqual(
        (await store.usage({ ...window, owner: managed.key_hash, groupBy: 'session' })).rows.map((r) => [r.group, r.runs]),
        [
          [s1, 1],
          [null, 1],
        ],
        'the runs without a session last',
      );
      assert.deepEqual(
        (await store.usage({ ...window, owner: plain, groupBy: 'model' })).rows,
        [{ group: null, runs: 1, input_tokens: 7, output_tokens: 1 }],
        'another owner sees only its own',
      );

      const all = await store.usage({ ...window, groupBy: 'key' });
      assert.deepEqual(
        all.rows.map((r) => [r.group, r.runs, r.input_tokens]),
        [
          [`env:${plain.slice(0, 12)}`, 1, 7],
          [managed.id, 2, 150],
        ],
        'a key from the environment by the start of its hash',
      );
      assert.deepEqual((await store.usage({ ...window, groupBy: 'agent' })).rows, [{ group: 'math', runs: 3, input_tokens: 157, output_tokens: 16 }]);
      assert.deepEqual(
        (await store.usage({ ...window, keyId: managed.id, groupBy: 'model' })).rows.map((r) => r.group),
        ['m1', 'm2'],
      );

      // `from` included, `to` excluded; `limit` cuts the groups, not the total.
      assert.equal((await store.usage({ from: t(1), to: t(2), groupBy: 'day', limit: 100 })).total.runs, 1);
      const cut = await store.usage({ ...window, groupBy: 'day', limit: 1 });
      assert.deepEqual([cut.rows.length, cut.total.runs], [1, 3]);
      assert.deepEqual(await store.usage({ from: t(5), to: t(6), groupBy: 'day', limit: 10 }), {
        rows: [],
        total: { runs: 0, input_tokens: 0, output_tokens: 0 },
      });
    });

    test('migration 006 rolls back to 005, dropping keys and usage, and applies again', async () => {
      const u = await locations.create();
      const first = await openStore(u);
      const k = newKey();
      try {
        await first.createKey(k);
      } finally {
        await first.close();
      }
      await withDatabase(u, (db) => migrateTo(db as unknown as Kysely<unknown>, '005_session_agent'));
      const again = await openStore(u);
      try {
        assert.equal(await again.keyByHash(k.key_hash), undefined);
        await again.createKey(k);
        assert.equal((await again.keyByHash(k.key_hash))?.id, k.id);
      } finally {
        await again.close();
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------

/** SQLite files in a temp folder of their own. */
function sqliteLocations(): Locations {
  let dir: string | undefined;
  let files = 0;
  return {
    create() {
      dir ??= mkdtempSync(join(tmpdir(), 'agent-api-store-'));
      return Promise.resolve(`sqlite:${join(dir, `db-${++files}.db`)}`);
    },
    teardown() {
      if (dir) rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

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

/** Throwaway databases on the server, created through an admin client of their own and all dropped by teardown. */
function pgLocations(): Locations {
  let admin: pg.Client | undefined;
  const databases: string[] = [];
  return {
    async create() {
      admin ??= await connectPgAdmin();
      const name = `agent_api_test_${randomBytes(6).toString('hex')}`;
      await admin.query(`CREATE DATABASE ${name}`);
      databases.push(name);
      return pgUrlFor(name);
    },
    async teardown() {
      if (!admin) return;
      try {
        // pg's pool.end() resolves before its sockets are closed; let the closed stores' backends
        // go away on their own so FORCE does not kill them under a still-listening client.
        for (let waited = 0; waited < 5000; waited += 25) {
          const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = ANY($1)', [databases]);
          if (Number(rows[0]?.n) === 0) break;
          await sleep(25);
        }
        for (const name of databases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end();
      }
    },
  };
}

/** The RunStore contract's view of a SQL backend: a store per location, its logs counted in run_events. */
function sqlRunStores(locations: Locations): RunStoreBackend {
  const inspectors: Kysely<Database>[] = [];
  return {
    expiredLogs: 'kept until pruned',
    async open() {
      const url = await locations.create();
      const store = await openStore(url);
      const db = connectDatabase(parseDatabaseUrl(url)!); // connects when first asked
      inspectors.push(db);
      return { store, openAnother: () => openStore(url), logsLeft: (runIds) => countLogs(db, runIds) };
    },
    async teardown() {
      for (const db of inspectors) await db.destroy();
      await locations.teardown();
    },
  };
}

storeContract('sqlite', sqliteLocations());
runStoreContract('sqlite', sqlRunStores(sqliteLocations()));
storeContract('postgres', pgLocations());
runStoreContract('postgres', sqlRunStores(pgLocations()));

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
