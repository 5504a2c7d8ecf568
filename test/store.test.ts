/**
 * The Store and RunStore contracts (src/store/store.ts, src/store/run-store.ts), one shared suite
 * run against both backends: SQLite (a temp file) and PostgreSQL (a throwaway database created for
 * this run), including the upgrade of a database an older release left. Then what the PostgreSQL
 * store does when the server drops one of its pooled connections.
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
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { ChatMessage } from '../src/core/messages.js';
import { connectDatabase } from '../src/store/connect-database.js';
import { parseDatabaseUrl } from '../src/store/database-url.js';
import { migrateTo } from '../src/store/migrations.js';
import { openStore } from '../src/store/open-store.js';
import { parseRunCursor, runCursor, type NewRun, type RunOutcome, type RunRecord } from '../src/store/run-store.js';
import type { Database } from '../src/store/schema.js';
import { sessionCursor } from '../src/store/session-cursor.js';
import type { Storage } from '../src/store/storage.js';
import type { Store } from '../src/store/store.js';

interface Backend {
  /** Prepares the location (creates the database) and returns its DATABASE_URL. */
  setup(): Promise<string>;
  /** Another empty location on the same server, removed by teardown. */
  another(): Promise<string>;
  teardown(): Promise<void>;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const HOUR = 3_600_000;
const owner = () => `owner-${randomUUID()}`;
const sid = () => `s-${randomUUID()}`;
// Hex only: the tie order by id is then the same in JavaScript as under any database collation.
const rid = () => `run_${randomBytes(8).toString('hex')}`;
const iso = (ms = Date.now()) => new Date(ms).toISOString();

function newRun(runOwner: string, over: Partial<NewRun> = {}): NewRun {
  return { id: rid(), session_id: null, owner: runOwner, status: 'running', created_at: iso(), started_at: iso(), lease_until: Date.now() + 60_000, ...over };
}

/** Logs expire an hour from now unless a test says otherwise: only the pruning tests prune. */
function outcome(over: Partial<RunOutcome> = {}): RunOutcome {
  return {
    status: 'completed',
    error: null,
    reply: 'done',
    tool_calls: [],
    usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    finished_at: iso(),
    events_expire_at: Date.now() + HOUR,
    ...over,
  };
}

/** `n` token events from `from` on. */
function events(from: number, n: number, prefix = 't'): { seq: number; data: string }[] {
  return Array.from({ length: n }, (_, i) => ({ seq: from + i, data: JSON.stringify({ type: 'token', content: `${prefix}${from + i}` }) }));
}

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

/** How many events of these runs are stored, pruned or deleted ones included if any were left. */
function countEvents(url: string, runs: readonly { id: string }[]): Promise<number> {
  return withDatabase(url, async (db) => {
    let n = 0;
    for (let i = 0; i < runs.length; i += 500) {
      const ids = runs.slice(i, i + 500).map((r) => r.id);
      const row = await db
        .selectFrom('run_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('run_id', 'in', ids)
        .executeTakeFirstOrThrow();
      n += Number(row.n);
    }
    return n;
  });
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

function storeContract(name: string, backend: Backend): void {
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

    test('claimSession is exclusive until released or expired; another token can neither renew nor release it', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      const [t1, t2] = [rid(), rid()];
      const minute = () => Date.now() + 60_000;

      assert.equal(await store.sessionClaim(id), undefined, 'nobody holds a new session');
      const until = minute();
      assert.equal(await store.claimSession(id, t1, until), true);
      assert.deepEqual(await store.sessionClaim(id), { token: t1, until });
      assert.equal(await store.claimSession(id, t2, minute()), false, 'a held claim is not granted to another run');
      assert.equal(await store.renewSession(id, t2, minute()), false, 'another token cannot renew it');
      await store.releaseSession(id, t2);
      assert.equal((await store.sessionClaim(id))?.token, t1, 'another token cannot release it');
      assert.equal(await store.claimSession(id, t2, minute()), false);
      assert.equal(await store.claimSession(id, t1, until + 1000), true, 'the holder may claim again (a retried claim)');
      assert.deepEqual(await store.sessionClaim(id), { token: t1, until: until + 1000 });

      await store.releaseSession(id, t1);
      assert.equal(await store.sessionClaim(id), undefined);
      assert.equal(await store.renewSession(id, t1, minute()), false, 'a released claim cannot be renewed');
      assert.equal(await store.claimSession(id, t2, minute()), true, 'claimable again after release');
      await store.releaseSession(id, t2);

      // A renewed claim outlives its first expiry.
      await withFrozenClock(async (tick) => {
        assert.equal(await store.claimSession(id, t1, Date.now() + 50), true);
        assert.equal(await store.renewSession(id, t1, minute()), true);
        tick(100);
        assert.equal(await store.claimSession(id, t2, minute()), false, 'a renewed claim is still held');
      });
      await store.releaseSession(id, t1);

      // Claims are per session, and a session that does not exist cannot be claimed.
      const other = sid();
      await store.openSession(other, owner(), 't');
      assert.equal(await store.claimSession(id, t1, minute()), true);
      assert.equal(await store.claimSession(other, t2, minute()), true);
      await store.releaseSession(id, t1);
      await store.releaseSession(other, t2);
      assert.equal(await store.claimSession(sid(), t1, minute()), false);
      assert.equal(await store.sessionClaim(sid()), undefined);
    });

    test('an expired claim is taken by another token; the first one is then fenced out', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      const [t1, t2] = [rid(), rid()];
      await withFrozenClock(async (tick) => {
        assert.equal(await store.claimSession(id, t1, Date.now() + 50), true);
        assert.equal(await store.claimSession(id, t2, Date.now() + 60_000), false);
        tick(50);
        assert.equal((await store.sessionClaim(id))?.token, t1, 'held until its last millisecond');
        tick(1);
        assert.equal(await store.sessionClaim(id), undefined, 'an expired claim is nobody’s');
        assert.equal(await store.claimSession(id, t2, Date.now() + 60_000), true, 'an expired claim lapses');
      });

      assert.equal(await store.renewSession(id, t1, Date.now() + 60_000), false, 'the first run lost its claim');
      await store.releaseSession(id, t1);
      assert.equal((await store.sessionClaim(id))?.token, t2, "the first run's release did not free the new claim");
      assert.equal(await store.claimSession(id, t1, Date.now() + 60_000), false);
      assert.equal(await store.renewSession(id, t2, Date.now() + 60_000), true);
      await store.releaseSession(id, t2);
      assert.equal(await store.sessionClaim(id), undefined);
    });

    test('concurrent claimSession calls by different runs: exactly one wins', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      const until = Date.now() + 60_000;
      const tokens = Array.from({ length: 10 }, rid);
      const results = await Promise.all(tokens.map((t) => store.claimSession(id, t, until)));
      assert.equal(results.filter(Boolean).length, 1, `results: ${results.join(',')}`);
      const winner = tokens[results.indexOf(true)]!;
      assert.deepEqual(await store.sessionClaim(id), { token: winner, until });
      await store.releaseSession(id, winner);
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
      await store.claimSession(id, t1, Date.now() + 60_000);
      assert.deepEqual(await active(), { get: t1, list: t1, open: t1 });
      await store.releaseSession(id, t1);
      assert.deepEqual(await active(), { get: null, list: null, open: null }, 'null after release');

      const t2 = rid();
      await withFrozenClock(async (tick) => {
        await store.claimSession(id, t2, Date.now() + 50);
        assert.deepEqual(await active(), { get: t2, list: t2, open: t2 });
        tick(100);
        assert.deepEqual(await active(), { get: null, list: null, open: null }, 'null once the claim expired');
      });
    });

    test('a claim on one store instance is seen by another on the same database', async () => {
      const id = sid();
      await store.openSession(id, owner(), 't');
      const other = await openAnother();
      const [t1, t2] = [rid(), rid()];
      assert.equal(await store.claimSession(id, t1, Date.now() + 60_000), true);
      assert.equal(await other.claimSession(id, t2, Date.now() + 60_000), false);
      assert.equal((await other.sessionClaim(id))?.token, t1);
      await store.releaseSession(id, t1);
      assert.equal(await other.claimSession(id, t2, Date.now() + 60_000), true);
      await other.releaseSession(id, t2);
    });

    test('createRun then getRun returns the run as created; another owner or an unknown id gets undefined', async () => {
      const a = owner();
      const id = sid();
      await store.openSession(id, a, 't');
      const run = newRun(a, { session_id: id });
      await store.createRun(run);
      const expected: RunRecord = {
        ...run,
        error: null,
        reply: '',
        tool_calls: [],
        usage: null,
        finished_at: null,
        cancel_requested: false,
        events_expire_at: null,
        events_pruned: false,
      };
      assert.deepEqual(await store.getRun(run.id, a), expected);
      assert.equal(await store.getRun(run.id, owner()), undefined);
      assert.equal(await store.getRun(rid(), a), undefined);

      const queued = newRun(a, { status: 'queued', started_at: null });
      await store.createRun(queued);
      const got = await store.getRun(queued.id, a);
      assert.equal(got?.session_id, null, 'a run without a session');
      assert.equal(got?.status, 'queued');
      assert.equal(got?.started_at, null);
      await assert.rejects(store.createRun(run), 'an id is used once');
    });

    test('listRuns: newest first, ties by id, paged exactly with runCursor; other owners and sessions excluded', async () => {
      const a = owner();
      const id = sid();
      await store.openSession(id, a, 't');
      const t0 = Date.parse('2024-05-01T10:00:00.000Z');
      const at = (ms: number) => newRun(a, { session_id: id, created_at: iso(t0 + ms) });
      const runs = [at(0), at(1), at(2), at(2), at(2), at(2), at(3)];
      for (const r of runs) await store.createRun(r);
      await store.createRun(newRun(owner(), { session_id: id, created_at: iso(t0 + 5) })); // not a's
      await store.createRun(newRun(a, { session_id: sid(), created_at: iso(t0 + 5) })); // another session

      const expected = [...runs]
        .sort((x, y) => (x.created_at === y.created_at ? (x.id < y.id ? 1 : -1) : x.created_at < y.created_at ? 1 : -1))
        .map((r) => r.id);
      const all = await store.listRuns(id, a, { limit: 50 });
      assert.deepEqual(
        all.map((r) => r.id),
        expected,
      );
      assert.equal(all[0]!.created_at, iso(t0 + 3));

      for (const limit of [1, 2, 3]) {
        const seen: string[] = [];
        let before: string | undefined;
        for (let pages = 0; pages < 20; pages++) {
          const page = await store.listRuns(id, a, { limit, before });
          seen.push(...page.map((r) => r.id));
          if (page.length < limit) break;
          before = runCursor(page.at(-1)!);
          assert.deepEqual(parseRunCursor(before), { created_at: page.at(-1)!.created_at, id: page.at(-1)!.id });
        }
        assert.deepEqual(seen, expected, `pages of ${limit}`);
      }
      // A bare created_at means "created strictly earlier".
      assert.deepEqual(
        (await store.listRuns(id, a, { limit: 50, before: iso(t0 + 2) })).map((r) => r.id),
        expected.slice(-2),
      );
      assert.deepEqual(await store.listRuns(id, owner(), { limit: 50 }), []);
      assert.deepEqual(await store.listRuns(sid(), a, { limit: 50 }), []);
    });

    test('finishRun records the outcome once; a second finish is refused and changes nothing', async () => {
      const a = owner();
      const run = newRun(a);
      await store.createRun(run);
      const first = outcome({
        status: 'failed',
        error: { code: 'upstream_error', message: 'The model provider failed: 502 ✗' },
        reply: 'partial 日本語 🎉 "quotes" \\ backslash',
        tool_calls: [
          { id: 'call_1', name: 'calculator', arguments: { expression: '2+2', nested: [1, { x: null }] }, result: { result: 4 } },
          { id: 'call_2', name: 'current_time', arguments: {}, result: undefined },
        ],
        usage: { input_tokens: 10, output_tokens: 7, total_tokens: 17 },
      });
      assert.equal(await store.finishRun(run.id, first), true);
      const finished = await store.getRun(run.id, a);
      assert.deepEqual(finished, {
        ...run,
        status: 'failed',
        error: first.error,
        reply: first.reply,
        tool_calls: first.tool_calls,
        usage: first.usage,
        finished_at: first.finished_at,
        lease_until: null,
        cancel_requested: false,
        events_expire_at: first.events_expire_at,
        events_pruned: false,
      });

      assert.equal(await store.finishRun(run.id, outcome({ status: 'interrupted', reply: 'other' })), false, 'a run ends once');
      assert.deepEqual(await store.getRun(run.id, a), finished);
      assert.equal(await store.finishRun(rid(), outcome()), false, 'an unknown run');

      // A queued run can end too (cancelled before it started); usage may be null.
      const queued = newRun(a, { status: 'queued', started_at: null });
      await store.createRun(queued);
      assert.equal(await store.finishRun(queued.id, outcome({ status: 'cancelled', reply: '', usage: null })), true);
      const cancelled = await store.getRun(queued.id, a);
      assert.equal(cancelled?.status, 'cancelled');
      assert.equal(cancelled?.usage, null);
      assert.equal(cancelled?.error, null);
    });

    test('concurrent finishRun calls: exactly one applies', async () => {
      const a = owner();
      const run = newRun(a);
      await store.createRun(run);
      const statuses = ['completed', 'failed', 'cancelled', 'interrupted'] as const;
      const results = await Promise.all(statuses.map((status) => store.finishRun(run.id, outcome({ status }))));
      assert.equal(results.filter(Boolean).length, 1, `results: ${results.join(',')}`);
      assert.equal((await store.getRun(run.id, a))?.status, statuses[results.indexOf(true)]);
    });

    test('staleRuns: live runs whose lease ran out, oldest lease first; renewRuns extends live leases only', async () => {
      // Leases in 1970 keep this test's runs apart from every other test's (theirs are Date.now()-based).
      const a = owner();
      const old = newRun(a, { lease_until: 1_000 });
      const older = newRun(a, { status: 'queued', started_at: null, lease_until: 500 });
      const fresh = newRun(a, { lease_until: 100_000 });
      const ended = newRun(a, { lease_until: 700 });
      for (const r of [old, older, fresh, ended]) await store.createRun(r);
      assert.equal(await store.finishRun(ended.id, outcome()), true);

      const stale = async (now: number, limit = 50) => (await store.staleRuns(now, limit)).map((r) => r.id);
      assert.deepEqual(await stale(2_000), [older.id, old.id]);
      assert.deepEqual(await stale(2_000, 1), [older.id], 'limit');
      assert.deepEqual(await stale(1_000), [older.id], 'a lease ending exactly now is not yet stale');
      assert.deepEqual((await store.staleRuns(2_000, 50))[1], await store.getRun(old.id, a), 'whole records');

      await store.renewRuns([old.id, ended.id, rid()], 50_000);
      assert.equal((await store.getRun(old.id, a))?.lease_until, 50_000);
      assert.equal((await store.getRun(ended.id, a))?.lease_until, null, 'an ended run is not renewed');
      assert.deepEqual(await stale(2_000), [older.id]);
      assert.deepEqual(await stale(60_000), [older.id, old.id]);
      await store.renewRuns([], 1); // a no-op

      for (const r of [old, older, fresh]) assert.equal(await store.finishRun(r.id, outcome({ status: 'interrupted' })), true);
      assert.deepEqual(await stale(60_000), []);
    });

    test('requestCancel is owner-scoped and refused once the run ended; cancelRequested lists the asked', async () => {
      const a = owner();
      const [r1, r2, r3] = [newRun(a), newRun(a), newRun(a, { status: 'queued', started_at: null })];
      for (const r of [r1, r2, r3]) await store.createRun(r);
      const ids = [r1.id, r2.id, r3.id, rid()];

      assert.equal(await store.requestCancel(r1.id, owner()), false, 'another owner');
      assert.deepEqual(await store.cancelRequested(ids), []);
      assert.equal(await store.requestCancel(r1.id, a), true);
      assert.equal(await store.requestCancel(r1.id, a), true, 'asking twice while it runs');
      assert.equal(await store.requestCancel(r3.id, a), true, 'a queued run');
      assert.deepEqual(await store.cancelRequested(ids), [r1.id, r3.id]);
      assert.equal((await store.getRun(r1.id, a))?.cancel_requested, true);
      assert.equal((await store.getRun(r2.id, a))?.cancel_requested, false);

      assert.equal(await store.finishRun(r2.id, outcome()), true);
      assert.equal(await store.requestCancel(r2.id, a), false, 'already ended');
      assert.equal(await store.requestCancel(rid(), a), false, 'unknown');
      assert.deepEqual(await store.cancelRequested(ids), [r1.id, r3.id]);
      assert.deepEqual(await store.cancelRequested([]), []);
    });

    test('appendRunEvents / readRunEvents: in order, after + limit, unicode intact; lastRunEventSeq', async () => {
      const a = owner();
      const run = newRun(a);
      const other = newRun(a);
      await store.createRun(run);
      await store.createRun(other);
      assert.equal(await store.lastRunEventSeq(run.id), 0);
      assert.deepEqual(await store.readRunEvents(run.id, 0, 10), []);

      const unicode = JSON.stringify({ type: 'token', content: '日本語 ✓ 🎉 "quotes" \\ backslash\nnewline \u0000 nul' });
      const first = [{ seq: 1, data: unicode }, ...events(2, 2)];
      await store.appendRunEvents(run.id, first);
      await store.appendRunEvents(run.id, []); // a no-op
      await store.appendRunEvents(run.id, events(4, 2));
      await store.appendRunEvents(other.id, events(1, 1, 'other'));

      const all = await store.readRunEvents(run.id, 0, 100);
      assert.deepEqual(all, [...first, ...events(4, 2)]);
      assert.equal((JSON.parse(all[0]!.data) as { content: string }).content, '日本語 ✓ 🎉 "quotes" \\ backslash\nnewline \u0000 nul');
      assert.deepEqual(
        (await store.readRunEvents(run.id, 2, 2)).map((e) => e.seq),
        [3, 4],
      );
      assert.deepEqual(await store.readRunEvents(run.id, 5, 10), []);
      assert.deepEqual(await store.readRunEvents(run.id, 0, 0), []);
      assert.equal(await store.lastRunEventSeq(run.id), 5);
      assert.equal(await store.lastRunEventSeq(other.id), 1);
      assert.equal(await store.lastRunEventSeq(rid()), 0);

      // A batch larger than one statement's worth of rows.
      await store.appendRunEvents(run.id, events(6, 250));
      assert.equal(await store.lastRunEventSeq(run.id), 255);
      assert.deepEqual(
        (await store.readRunEvents(run.id, 0, 1000)).map((e) => e.seq),
        Array.from({ length: 255 }, (_, i) => i + 1),
      );
    });

    test('appendRunEvents refuses a seq already logged, all or nothing, and a run that does not exist', async () => {
      const run = newRun(owner());
      await store.createRun(run);
      await store.appendRunEvents(run.id, events(1, 5));
      await assert.rejects(store.appendRunEvents(run.id, events(5, 1)));
      // The duplicate is in the second statement of a split batch: the first is rolled back too.
      await assert.rejects(store.appendRunEvents(run.id, [...events(6, 150), ...events(3, 1)]));
      assert.equal(await store.lastRunEventSeq(run.id), 5);
      await assert.rejects(store.appendRunEvents(rid(), events(1, 1)), 'an unknown run has no log');
      await store.appendRunEvents(run.id, events(6, 1));
      assert.equal(await store.lastRunEventSeq(run.id), 6);
    });

    test('concurrent appendRunEvents to different runs and readers in between', async () => {
      const runs = Array.from({ length: 6 }, () => newRun(owner()));
      for (const r of runs) await store.createRun(r);
      await Promise.all(
        runs.map(async (r) => {
          for (let seq = 1; seq <= 40; seq += 4) {
            await store.appendRunEvents(r.id, events(seq, 4, r.id));
            assert.equal((await store.readRunEvents(r.id, seq - 1, 100)).length, 4);
          }
        }),
      );
      for (const r of runs) assert.deepEqual(await store.readRunEvents(r.id, 0, 100), events(1, 40, r.id));
    });

    test('pruneRunEvents deletes only expired logs, oldest first, at most `limit` runs per call', async () => {
      // Expiries in 1970 keep this test apart from every other (theirs lie in the future); its
      // session is deleted at the end so no expired log is left for the next test.
      const a = owner();
      const id = sid();
      await store.openSession(id, a, 't');
      const [first, second, later, live] = [
        newRun(a, { session_id: id }),
        newRun(a, { session_id: id }),
        newRun(a, { session_id: id }),
        newRun(a, { session_id: id }),
      ];
      for (const r of [first, second, later, live]) {
        await store.createRun(r);
        await store.appendRunEvents(r.id, events(1, 3));
      }
      await store.finishRun(second.id, outcome({ events_expire_at: 20 }));
      await store.finishRun(first.id, outcome({ events_expire_at: 10 }));
      await store.finishRun(later.id, outcome({ events_expire_at: 1_000 }));

      assert.equal(await store.pruneRunEvents(500, 1), 1);
      assert.equal((await store.getRun(first.id, a))?.events_pruned, true, 'the oldest expiry goes first');
      assert.equal((await store.getRun(second.id, a))?.events_pruned, false);
      assert.equal(await store.pruneRunEvents(500, 10), 1);
      assert.equal(await store.pruneRunEvents(500, 10), 0);
      assert.equal(await store.pruneRunEvents(500, 0), 0);

      for (const r of [first, second]) {
        const got = await store.getRun(r.id, a);
        assert.equal(got?.events_pruned, true);
        assert.equal(got?.status, 'completed', 'the run itself stays');
        assert.deepEqual(await store.readRunEvents(r.id, 0, 10), []);
        assert.equal(await store.lastRunEventSeq(r.id), 0);
      }
      for (const r of [later, live]) {
        assert.equal((await store.getRun(r.id, a))?.events_pruned, false);
        assert.equal((await store.readRunEvents(r.id, 0, 10)).length, 3);
      }
      assert.equal(await store.pruneRunEvents(1_001, 10), 1);
      assert.equal((await store.getRun(later.id, a))?.events_pruned, true);
      assert.equal((await store.readRunEvents(live.id, 0, 10)).length, 3, 'a live run has no expiry');
      assert.equal(await store.deleteSession(id, a), true);
    });

    test('concurrent pruneRunEvents calls count each run once', async () => {
      // On Postgres the calls run on different pooled connections at once.
      const a = owner();
      const id = sid();
      await store.openSession(id, a, 't');
      const runs = Array.from({ length: 40 }, () => newRun(a, { session_id: id }));
      for (const r of runs) {
        await store.createRun(r);
        await store.appendRunEvents(r.id, events(1, 2));
        await store.finishRun(r.id, outcome({ events_expire_at: 5_000 }));
      }
      let total = 0;
      for (let round = 0; round < 20; round++) {
        const counts = await Promise.all(Array.from({ length: 4 }, () => store.pruneRunEvents(6_000, 7)));
        total += counts.reduce((x, y) => x + y, 0);
        if (counts.every((n) => n === 0)) break;
      }
      assert.equal(total, runs.length);
      assert.equal(await countEvents(url, runs), 0);
      assert.equal(await store.deleteSession(id, a), true);
    });

    test('1,000 runs past their TTL: pruning in bounded calls leaves no event behind', async () => {
      const a = owner();
      const id = sid();
      await store.openSession(id, a, 't');
      const runs = Array.from({ length: 1000 }, () => newRun(a, { session_id: id }));
      const expired = Date.now() - 1;
      for (let i = 0; i < runs.length; i += 50) {
        await Promise.all(
          runs.slice(i, i + 50).map(async (r) => {
            await store.createRun(r);
            await store.appendRunEvents(r.id, events(1, 5));
            await store.finishRun(r.id, outcome({ events_expire_at: expired }));
          }),
        );
      }
      assert.equal(await countEvents(url, runs), 5000);

      const perCall: number[] = [];
      for (let calls = 0; calls < 20; calls++) {
        const n = await store.pruneRunEvents(Date.now(), 300);
        perCall.push(n);
        if (n === 0) break;
      }
      assert.deepEqual(perCall, [300, 300, 300, 100, 0]);
      assert.equal(await countEvents(url, runs), 0);
      const listed = await store.listRuns(id, a, { limit: 2000 });
      assert.equal(listed.length, 1000);
      assert.ok(listed.every((r) => r.events_pruned));
      assert.equal(await store.deleteSession(id, a), true);
    });

    test("deleteSession removes the session's runs and their events, and nothing of other sessions", async () => {
      const a = owner();
      const [id, keep] = [sid(), sid()];
      await store.openSession(id, a, 't');
      await store.openSession(keep, a, 't');
      const [done, running, kept] = [newRun(a, { session_id: id }), newRun(a, { session_id: id }), newRun(a, { session_id: keep })];
      for (const r of [done, running, kept]) {
        await store.createRun(r);
        await store.appendRunEvents(r.id, events(1, 4));
      }
      await store.finishRun(done.id, outcome());

      assert.equal(await store.deleteSession(id, a), true);
      for (const r of [done, running]) {
        assert.equal(await store.getRun(r.id, a), undefined);
        assert.deepEqual(await store.readRunEvents(r.id, 0, 10), []);
      }
      assert.equal(await countEvents(url, [done, running]), 0);
      assert.deepEqual(await store.listRuns(id, a, { limit: 10 }), []);
      // The run that was still going cannot log into the void.
      await assert.rejects(store.appendRunEvents(running.id, events(5, 1)));
      assert.equal(await countEvents(url, [running]), 0);

      assert.ok(await store.getRun(kept.id, a));
      assert.equal((await store.readRunEvents(kept.id, 0, 10)).length, 4);
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
      const [done, live] = [newRun(a, { session_id: id }), newRun(a, { session_id: id })];
      const claim = { token: live.id, until: Date.now() + 60_000 };
      await first.claimSession(id, claim.token, claim.until);
      for (const r of [done, live]) {
        await first.createRun(r);
        await first.appendRunEvents(r.id, events(1, 3, r.id));
      }
      await first.finishRun(done.id, outcome({ reply: 'kept ✓', tool_calls: [{ id: 'c', name: 'calculator', arguments: { e: '1+1' }, result: 2 }] }));
      await first.requestCancel(live.id, a);
      const before = await first.getSession(id, a);
      const runsBefore = await first.listRuns(id, a, { limit: 10 });
      await first.close();

      const second = await openAnother();
      assert.deepEqual(await second.getSession(id, a), before);
      assert.equal(before?.active_run_id, live.id);
      assert.deepEqual(
        (await second.listMessages(id, { limit: 10 })).map((r) => r.message),
        sampleTurn,
      );
      assert.deepEqual(await second.recentMessages(id, 2), sampleTurn.slice(2));
      assert.deepEqual(await second.sessionClaim(id), claim);
      assert.deepEqual(await second.listRuns(id, a, { limit: 10 }), runsBefore);
      assert.equal(runsBefore.length, 2);
      assert.deepEqual(await second.cancelRequested([done.id, live.id]), [live.id]);
      for (const r of [done, live]) assert.deepEqual(await second.readRunEvents(r.id, 0, 10), events(1, 3, r.id));
      assert.equal(await second.renewSession(id, claim.token, claim.until + 1), true, 'the claim is still its holder’s');
      await second.releaseSession(id, claim.token);
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
      const oldUrl = await backend.another();
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
        });
        assert.deepEqual((await upgraded.listSessions(a, { limit: 10 })).map((s) => s.id).sort(), [plain, lapsed, held].sort());
        assert.deepEqual(
          (await upgraded.listMessages(plain, { limit: 10 })).map((r) => r.message),
          sampleTurn.slice(0, 2),
        );
        await upgraded.appendMessages(plain, sampleTurn.slice(2));
        assert.deepEqual(
          (await upgraded.listMessages(plain, { limit: 10 })).map((r) => r.seq),
          [0, 1, 2, 3],
        );

        // An old claim that lapsed is free; one still running (an old process mid-turn during a
        // rolling upgrade) keeps the session until it expires, though it names no run.
        assert.equal(await upgraded.claimSession(lapsed, rid(), Date.now() + 60_000), true);
        assert.equal(await upgraded.claimSession(held, rid(), Date.now() + 60_000), false);
        assert.equal(await upgraded.sessionClaim(held), undefined);
        assert.equal((await upgraded.getSession(held, a))?.active_run_id, null);

        const token = rid();
        assert.equal(await upgraded.claimSession(plain, token, Date.now() + 60_000), true);
        assert.equal((await upgraded.getSession(plain, a))?.active_run_id, token);
        const run = newRun(a, { id: token, session_id: plain });
        await upgraded.createRun(run);
        await upgraded.appendRunEvents(run.id, events(1, 3));
        assert.equal(await upgraded.finishRun(run.id, outcome()), true);
        await upgraded.releaseSession(plain, token);
        assert.equal((await upgraded.listRuns(plain, a, { limit: 10 }))[0]?.status, 'completed');
        assert.equal(await upgraded.deleteSession(plain, a), true);
        assert.equal(await upgraded.getRun(run.id, a), undefined);
        assert.equal(await countEvents(oldUrl, [run]), 0);
      } finally {
        await upgraded.close();
      }
    });

    test('migration 002 rolls back to 001, keeping sessions, and applies again', async () => {
      const u = await backend.another();
      const a = owner();
      const id = sid();
      const first = await openStore(u);
      try {
        await first.openSession(id, a, 'kept');
        await first.claimSession(id, rid(), Date.now() + 60_000);
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
  });
}

// ---------------------------------------------------------------------------------------------

let sqliteDir: string | undefined;
let sqliteFiles = 0;
storeContract('sqlite', {
  setup() {
    sqliteDir = mkdtempSync(join(tmpdir(), 'agent-api-store-'));
    return Promise.resolve(`sqlite:${join(sqliteDir, 'x.db')}`);
  },
  another() {
    if (!sqliteDir) throw new Error('setup() first');
    return Promise.resolve(`sqlite:${join(sqliteDir, `another-${++sqliteFiles}.db`)}`);
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
const pgDatabases: string[] = [];
/** Creates a throwaway database on the server and returns its URL; teardown drops them all. */
async function createPgDatabase(): Promise<string> {
  if (!admin) throw new Error('setup() first');
  const name = `agent_api_test_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  pgDatabases.push(name);
  return pgUrlFor(name);
}
storeContract('postgres', {
  async setup() {
    admin = await connectPgAdmin();
    return createPgDatabase();
  },
  another: createPgDatabase,
  async teardown() {
    if (!admin) return;
    try {
      // pg's pool.end() resolves before its sockets are closed; let the closed stores' backends
      // go away on their own so FORCE does not kill them under a still-listening client.
      for (let waited = 0; waited < 5000; waited += 25) {
        const { rows } = await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = ANY($1)', [pgDatabases]);
        if (Number(rows[0]?.n) === 0) break;
        await sleep(25);
      }
      for (const name of pgDatabases) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
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
