/**
 * The RunStore contract (src/store/run-store.ts): one suite, run against every backend (SQLite and
 * PostgreSQL from test/store.test.ts, Redis from test/redis-run-store.test.ts), and the fixtures
 * those files build their own runs with. A backend hands out stores on fresh locations and says,
 * reading around the store, which run logs it still holds; what only one backend does (SQL
 * migrations, Redis keys and signals) is tested in its own file.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, describe } from 'node:test';
import { parseRunCursor, runCursor, type NewRun, type RunOutcome, type RunRecord } from '../../src/store/run-store.js';
import type { Storage } from '../../src/store/storage.js';
import { requiredSetup } from './required-setup.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const owner = () => `owner-${randomUUID()}`;
export const sid = () => `s-${randomUUID()}`;
// Hex only: the tie order by id is then the same in JavaScript as under any database collation.
export const rid = () => `run_${randomBytes(8).toString('hex')}`;
export const iso = (ms = Date.now()) => new Date(ms).toISOString();

export function newRun(runOwner: string, over: Partial<NewRun> = {}): NewRun {
  return { id: rid(), session_id: null, owner: runOwner, status: 'running', created_at: iso(), started_at: iso(), lease_until: Date.now() + 60_000, ...over };
}

/**
 * Logs expire an hour from now unless a test says otherwise: the pruning tests, which prune at most
 * twenty minutes ahead, never take another test's.
 */
export function outcome(over: Partial<RunOutcome> = {}): RunOutcome {
  return {
    status: 'completed',
    error: null,
    reply: 'done',
    tool_calls: [],
    usage: { input_tokens: 3, output_tokens: 2, total_tokens: 5 },
    finish_reason: 'stop',
    finished_at: iso(),
    events_expire_at: Date.now() + HOUR,
    ...over,
  };
}

/** `n` token events from `from` on. */
export function events(from: number, n: number, prefix = 't'): { seq: number; data: string }[] {
  return Array.from({ length: n }, (_, i) => ({ seq: from + i, data: JSON.stringify({ type: 'token', content: `${prefix}${from + i}` }) }));
}

/** What a backend holds of run logs: how many runs still have one (SQL rows of a run, a Redis key), and their events. */
export interface LogsLeft {
  logs: number;
  events: number;
}

export const NO_LOGS: LogsLeft = { logs: 0, events: 0 };

/** A fresh, empty location of a backend (a database file, a database, a key prefix) and a store open on it. */
export interface RunStoreLocation {
  store: Storage;
  /** Another store on the same location: another process, as far as the backend can tell. */
  openAnother: () => Promise<Storage>;
  /** The logs of these runs the backend still holds, read around the store; without ids, every log at the location. */
  logsLeft: (runIds?: readonly string[]) => Promise<LogsLeft>;
}

export interface RunStoreBackend {
  /** Opens a store on a fresh location; fails, saying so, when the backend's service cannot be reached. */
  open(): Promise<RunStoreLocation>;
  /** Removes every location `open` made, once the suite has closed their stores. */
  teardown(): Promise<void>;
  /**
   * What becomes of a log whose `events_expire_at` passed before a prune: the SQL stores keep it
   * until `pruneRunEvents` deletes it; Redis lets the key expire then. Either way the prune counts it.
   */
  expiredLogs: 'kept until pruned' | 'gone at expiry';
  /** What the refusals of `appendRunEvents` say, for a backend whose errors are its own (any error otherwise). */
  refusals?: { seqTaken: RegExp; noLog: RegExp };
}

export function runStoreContract(name: string, backend: RunStoreBackend): void {
  describe(`RunStore contract: ${name}`, () => {
    let main: RunStoreLocation;
    let store: Storage;
    const open = new Set<Storage>();
    const track = (s: Storage): Storage => (open.add(s), s);
    /** Closes a store the suite opened (`after` closes the rest). */
    const close = async (s: Storage): Promise<void> => {
      open.delete(s);
      await s.close();
    };
    const openAnother = async (): Promise<Storage> => track(await main.openAnother());
    /** A location of the test's own: nothing of the other tests is there. */
    const openFresh = async (): Promise<RunStoreLocation> => {
      const location = await backend.open();
      track(location.store);
      return location;
    };
    const refused = (p: Promise<unknown>, cause: 'seqTaken' | 'noLog', message: string) =>
      backend.refusals ? assert.rejects(p, backend.refusals[cause], message) : assert.rejects(p, message);

    const test = requiredSetup(async () => {
      main = await backend.open();
      store = track(main.store);
    });

    after(async () => {
      for (const s of open) await s.close().catch(() => {});
      await backend.teardown();
    });

    test('a session keeps the agent it was opened with: reopening with another does not change it, none is null, owners apart', async () => {
      const [a, b] = [owner(), owner()];
      const id = sid();
      assert.equal((await store.openSession(id, a, 't', 'math')).agent, 'math');
      assert.equal((await store.openSession(id, a, 't', 'support')).agent, 'math', 'the session keeps its agent');
      assert.equal((await store.getSession(id, a))?.agent, 'math');
      assert.equal((await store.listSessions(a, { limit: 10 })).find((s) => s.id === id)?.agent, 'math');
      assert.equal((await store.openSession(id, b, 't', 'support')).agent, 'support', "another owner's session of the same id has its own");
      const plain = sid();
      assert.equal((await store.openSession(plain, a, 't')).agent, null, 'no agent: null (the default agent)');
      assert.equal((await store.getSession(plain, a))?.agent, null);
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
        finish_reason: null,
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

    test('getRunState is getRun without what the run said: live, finished, pruned; another owner or an unknown id gets undefined', async () => {
      const a = owner();
      const run = newRun(a);
      await store.createRun(run);
      const state = (r: RunRecord) => ({
        id: r.id,
        session_id: r.session_id,
        owner: r.owner,
        status: r.status,
        lease_until: r.lease_until,
        events_pruned: r.events_pruned,
      });
      const live = await store.getRun(run.id, a);
      assert.ok(live);
      assert.deepEqual(await store.getRunState(run.id, a), state(live));
      assert.equal((await store.getRunState(run.id, a))?.lease_until, run.lease_until);
      assert.equal(await store.getRunState(run.id, owner()), undefined);
      assert.equal(await store.getRunState(rid(), a), undefined);

      const expireAt = Date.now() - 1000;
      assert.equal(await store.finishRun(run.id, outcome({ reply: 'r'.repeat(100_000), events_expire_at: expireAt }), [{ seq: 1, data: '{}' }]), true);
      const finished = await store.getRunState(run.id, a);
      assert.deepEqual(finished, { id: run.id, session_id: run.session_id, owner: a, status: 'completed', lease_until: null, events_pruned: false });
      assert.ok(!('reply' in (finished ?? {})), 'no reply');
      while ((await store.pruneRunEvents(Date.now(), 100)) === 100);
      assert.equal((await store.getRunState(run.id, a))?.events_pruned, true);
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
        finish_reason: 'stop',
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

    test('finishRun with the last events appends them with the outcome; refused, it appends nothing', async () => {
      const a = owner();
      const run = newRun(a);
      await store.createRun(run);
      await store.appendRunEvents(run.id, events(1, 3));
      assert.equal(await store.finishRun(run.id, outcome({ finish_reason: 'max_steps' }), events(4, 2)), true);
      assert.equal((await store.getRun(run.id, a))?.finish_reason, 'max_steps');
      assert.deepEqual(
        (await store.readRunEvents(run.id, 0, 10)).map((e) => e.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(await store.lastRunEventSeq(run.id), 5);
      assert.equal(await store.finishRun(run.id, outcome(), events(6, 2)), false, 'a run ends once');
      assert.equal(await store.lastRunEventSeq(run.id), 5, 'and the refused finish appended nothing');
      assert.deepEqual(await main.logsLeft([run.id]), { logs: 1, events: 5 });
    });

    test('readRunEvents pages exactly across writes of many events each (after and limit inside a write)', async () => {
      const run = newRun(owner());
      await store.createRun(run);
      await store.appendRunEvents(run.id, events(1, 5));
      await store.appendRunEvents(run.id, events(6, 1));
      await store.appendRunEvents(run.id, events(7, 4));
      const seqs = async (after: number, limit: number) => (await store.readRunEvents(run.id, after, limit)).map((e) => e.seq);
      assert.deepEqual(await seqs(0, 100), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.deepEqual(await seqs(2, 2), [3, 4]);
      assert.deepEqual(await seqs(4, 3), [5, 6, 7]);
      assert.deepEqual(await seqs(5, 1), [6]);
      assert.deepEqual(await seqs(8, 5), [9, 10]);
      assert.deepEqual(await seqs(10, 5), []);
      // Page through one event at a time: every event once, in order.
      const all: number[] = [];
      for (let after = 0; ;) {
        const page = await store.readRunEvents(run.id, after, 1);
        if (page.length === 0) break;
        all.push(page[0]!.seq);
        after = page[0]!.seq;
      }
      assert.deepEqual(all, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await refused(store.appendRunEvents(run.id, events(9, 3)), 'seqTaken', 'a write reaching into events already logged');
      await refused(store.appendRunEvents(run.id, events(3, 1)), 'seqTaken', 'an event inside an earlier write');
      assert.equal(await store.lastRunEventSeq(run.id), 10);
      // Event JSON is kept exactly, one event per entry, even JSON written over several lines.
      const pretty = { seq: 11, data: JSON.stringify({ type: 'token', content: 'line one\nline two' }, null, 2) };
      await store.appendRunEvents(run.id, [pretty]);
      const [read] = await store.readRunEvents(run.id, 10, 1);
      assert.deepEqual(JSON.parse(read!.data), { type: 'token', content: 'line one\nline two' });
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
      assert.deepEqual(await store.readRunEvents(rid(), 0, 10), []);

      // A batch larger than one SQL statement's worth of rows.
      await store.appendRunEvents(run.id, events(6, 250));
      assert.equal(await store.lastRunEventSeq(run.id), 255);
      assert.deepEqual(
        (await store.readRunEvents(run.id, 0, 1000)).map((e) => e.seq),
        Array.from({ length: 255 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        (await store.readRunEvents(run.id, 100, 3)).map((e) => e.seq),
        [101, 102, 103],
      );
    });

    test('appendRunEvents refuses a seq already logged, all or nothing, and a run that does not exist', async () => {
      const run = newRun(owner());
      await store.createRun(run);
      await store.appendRunEvents(run.id, events(1, 5));
      await refused(store.appendRunEvents(run.id, events(5, 1)), 'seqTaken', 'a seq already logged');
      // The duplicate is the last of a large batch (split over statements in SQL): nothing of it is kept.
      await refused(store.appendRunEvents(run.id, [...events(6, 150), ...events(3, 1)]), 'seqTaken', 'a duplicate at the end of a batch');
      assert.equal(await store.lastRunEventSeq(run.id), 5);
      assert.deepEqual(await main.logsLeft([run.id]), { logs: 1, events: 5 });

      const unknown = rid();
      await refused(store.appendRunEvents(unknown, events(1, 1)), 'noLog', 'an unknown run has no log');
      assert.deepEqual(await main.logsLeft([unknown]), NO_LOGS, 'nor is one made for it');

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

    test('another store instance (another process) reads and continues the same logs', async () => {
      const run = newRun(owner());
      await store.createRun(run);
      await store.appendRunEvents(run.id, events(1, 3, 'shared'));
      const other = await openAnother();
      assert.deepEqual(await other.readRunEvents(run.id, 0, 10), events(1, 3, 'shared'));
      await other.appendRunEvents(run.id, events(4, 1, 'shared'));
      assert.equal(await store.lastRunEventSeq(run.id), 4);
      await refused(store.appendRunEvents(run.id, events(4, 1)), 'seqTaken', 'the other instance logged 4');
    });

    test('pruneRunEvents deletes only expired logs, oldest first, at most `limit` runs per call', async () => {
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
      // Expiries ten minutes ahead: every backend keeps the logs until a prune looking past them
      // removes them. Every other test's lie an hour ahead, out of reach of these prunes; and its
      // session is deleted at the end, so nothing this test expired is left for the next one.
      const base = Date.now() + 10 * MINUTE;
      await store.finishRun(second.id, outcome({ events_expire_at: base + 20 }));
      await store.finishRun(first.id, outcome({ events_expire_at: base + 10 }));
      await store.finishRun(later.id, outcome({ events_expire_at: base + 1_000 }));

      assert.equal(await store.pruneRunEvents(base + 10, 10), 0, 'a log expiring exactly now is not yet expired');
      assert.equal(await store.pruneRunEvents(base + 500, 1), 1);
      assert.equal((await store.getRun(first.id, a))?.events_pruned, true, 'the oldest expiry goes first');
      assert.equal((await store.getRun(second.id, a))?.events_pruned, false);
      assert.deepEqual(await main.logsLeft([first.id]), NO_LOGS);
      assert.deepEqual(await main.logsLeft([second.id]), { logs: 1, events: 3 });
      assert.equal(await store.pruneRunEvents(base + 500, 10), 1);
      assert.deepEqual(await main.logsLeft([second.id]), NO_LOGS);
      assert.equal(await store.pruneRunEvents(base + 500, 10), 0);
      assert.equal(await store.pruneRunEvents(base + 500, 0), 0);

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
      assert.equal(await store.pruneRunEvents(base + 1_001, 10), 1);
      assert.equal((await store.getRun(later.id, a))?.events_pruned, true);
      assert.deepEqual(await main.logsLeft([later.id]), NO_LOGS);
      assert.equal((await store.readRunEvents(live.id, 0, 10)).length, 3, 'a live run has no expiry');
      assert.deepEqual(await main.logsLeft([first.id, second.id, later.id, live.id]), { logs: 1, events: 3 });
      assert.equal(await store.deleteSession(id, a), true);
    });

    test('concurrent pruneRunEvents calls count each run once and leave none of their logs', async () => {
      // On Postgres the calls run on different pooled connections at once.
      const a = owner();
      const id = sid();
      await store.openSession(id, a, 't');
      const runs = Array.from({ length: 40 }, () => newRun(a, { session_id: id }));
      const expireAt = Date.now() + 10 * MINUTE;
      for (const r of runs) {
        await store.createRun(r);
        await store.appendRunEvents(r.id, events(1, 2));
        await store.finishRun(r.id, outcome({ events_expire_at: expireAt }));
      }
      let total = 0;
      for (let round = 0; round < 20; round++) {
        const counts = await Promise.all(Array.from({ length: 4 }, () => store.pruneRunEvents(expireAt + 1, 7)));
        total += counts.reduce((x, y) => x + y, 0);
        if (counts.every((n) => n === 0)) break;
      }
      assert.equal(total, runs.length);
      const left = await main.logsLeft(runs.map((r) => r.id));
      assert.equal(await store.deleteSession(id, a), true);
      assert.deepEqual(left, NO_LOGS);
    });

    test('1,000 runs past their TTL: pruning in bounded calls leaves no log behind', async () => {
      // A location of its own, so that nothing at all may be left there.
      const { store, logsLeft } = await openFresh();
      const a = owner();
      const id = sid();
      await store.openSession(id, a, 't');
      const runs = Array.from({ length: 1000 }, () => newRun(a, { session_id: id }));
      for (let i = 0; i < runs.length; i += 50) {
        await Promise.all(
          runs.slice(i, i + 50).map(async (r, j) => {
            await store.createRun(r);
            await store.appendRunEvents(r.id, events(1, 5));
            // Half have expired as they end; the other half expire ten minutes ahead, before the prunes below.
            await store.finishRun(r.id, outcome({ events_expire_at: (i + j) % 2 === 0 ? Date.now() - 1 : Date.now() + 10 * MINUTE }));
          }),
        );
      }
      const kept = backend.expiredLogs === 'kept until pruned';
      assert.deepEqual(await logsLeft(), kept ? { logs: 1000, events: 5000 } : { logs: 500, events: 2500 });

      const perCall: number[] = [];
      for (let calls = 0; calls < 20; calls++) {
        const n = await store.pruneRunEvents(Date.now() + 20 * MINUTE, 300);
        perCall.push(n);
        if (n === 0) break;
      }
      assert.deepEqual(perCall, [300, 300, 300, 100, 0]);
      assert.deepEqual(await logsLeft(), NO_LOGS, 'no log is left at the location');
      const listed = await store.listRuns(id, a, { limit: 2000 });
      assert.equal(listed.length, 1000);
      assert.ok(listed.every((r) => r.events_pruned));
      assert.equal(await store.deleteSession(id, a), true);
    });

    test("deleteSession removes the session's runs and their logs, and nothing of other sessions (another owner's of the same id included); a run still going cannot log into the void", async () => {
      const [a, b] = [owner(), owner()];
      const [id, keep] = [sid(), sid()];
      await store.openSession(id, a, 't');
      await store.openSession(keep, a, 't');
      await store.openSession(id, b, 't');
      const [done, running, kept, theirs] = [
        newRun(a, { session_id: id }),
        newRun(a, { session_id: id }),
        newRun(a, { session_id: keep }),
        newRun(b, { session_id: id }),
      ];
      for (const r of [done, running, kept, theirs]) {
        await store.createRun(r);
        await store.appendRunEvents(r.id, events(1, 4));
      }
      await store.finishRun(done.id, outcome());

      assert.equal(await store.deleteSession(id, owner()), false, 'another owner deletes nothing');
      assert.deepEqual(await main.logsLeft([done.id, running.id]), { logs: 2, events: 8 });

      assert.equal(await store.deleteSession(id, a), true);
      for (const r of [done, running]) {
        assert.equal(await store.getRun(r.id, a), undefined);
        assert.deepEqual(await store.readRunEvents(r.id, 0, 10), []);
      }
      assert.deepEqual(await main.logsLeft([done.id, running.id]), NO_LOGS);
      assert.deepEqual(await store.listRuns(id, a, { limit: 10 }), []);
      await refused(store.appendRunEvents(running.id, events(5, 1)), 'noLog', 'the run still going cannot log');
      assert.deepEqual(await main.logsLeft([running.id]), NO_LOGS, 'its append left nothing');

      assert.ok(await store.getRun(kept.id, a));
      assert.equal((await store.readRunEvents(kept.id, 0, 10)).length, 4);
      assert.deepEqual(await main.logsLeft([kept.id]), { logs: 1, events: 4 });
      assert.deepEqual(
        (await store.listRuns(id, b, { limit: 10 })).map((r) => r.id),
        [theirs.id],
        "the other owner's session of the same id keeps its runs",
      );
      assert.deepEqual(await main.logsLeft([theirs.id]), { logs: 1, events: 4 });
      assert.ok(await store.getSession(id, b));
    });

    test('runs, cancel requests and logs survive closing and reopening the store', async () => {
      const id = sid();
      const a = owner();
      const first = await openAnother();
      await first.openSession(id, a, 'persisted');
      const [done, live] = [newRun(a, { session_id: id }), newRun(a, { session_id: id })];
      for (const r of [done, live]) {
        await first.createRun(r);
        await first.appendRunEvents(r.id, events(1, 3, r.id));
      }
      await first.finishRun(done.id, outcome({ reply: 'kept ✓', tool_calls: [{ id: 'c', name: 'calculator', arguments: { e: '1+1' }, result: 2 }] }));
      await first.requestCancel(live.id, a);
      const runsBefore = await first.listRuns(id, a, { limit: 10 });
      await close(first);

      const second = await openAnother();
      assert.equal(runsBefore.length, 2);
      assert.deepEqual(await second.listRuns(id, a, { limit: 10 }), runsBefore);
      assert.deepEqual(await second.cancelRequested([done.id, live.id]), [live.id]);
      for (const r of [done, live]) assert.deepEqual(await second.readRunEvents(r.id, 0, 10), events(1, 3, r.id));
      await second.appendRunEvents(live.id, events(4, 1, live.id));
      assert.equal(await second.lastRunEventSeq(live.id), 4, 'the live run logs on');
    });
  });
}
