/**
 * The Redis-backed store (src/store/redis-run-store.ts): the RunStore contract
 * (test/support/run-store-contract.ts) against a stream per run over a temp SQLite file (the
 * registry stays in SQL); then what only Redis does: the keys' life (created with the run,
 * expiring when it ends, deleted when pruned even if their expiry was lost), RunSignals (blocking
 * waits on a bounded pool, cancels over pub/sub), start-up against an unreachable Redis, and the
 * service end to end: a turn streamed and replayed, a run followed and cancelled from another
 * instance, and one rate limit shared by two instances.
 *
 * Redis is required: REDIS_URL when set, else redis://127.0.0.1:6379; if it cannot be reached the
 * tests fail saying so. Every store here uses its own key prefix, and cleanup deletes only keys
 * under it (other test files may share the server): never FLUSHALL.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, test as nodeTest } from 'node:test';
import type { Redis } from 'ioredis';
import type { StreamEvent } from '../src/core/events.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createAgentServer } from '../src/server.js';
import { openRedis, RedisUnreachableError } from '../src/store/open-redis.js';
import { openStore } from '../src/store/open-store.js';
import { RedisRunStore, type RedisRunStoreOptions } from '../src/store/redis-run-store.js';
import { hasRunSignals } from '../src/store/run-store.js';
import { startChild, stopAllChildren, type ChildService } from './support/child-service.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { requiredSetup } from './support/required-setup.js';
import { events, HOUR, newRun, NO_LOGS, outcome, owner, runStoreContract, sid, type LogsLeft, type RunStoreBackend } from './support/run-store-contract.js';
import { parseSse, readChunks, startService, waitFor, type TestService } from './support/service.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const testPrefix = () => `agent-api-test-${randomBytes(6).toString('hex')}:`;

/** Every key under `prefix` (SCAN, so a busy shared server is never blocked). */
async function keysUnder(admin: Redis, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

async function deleteKeysUnder(admin: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(admin, prefix);
  for (let i = 0; i < keys.length; i += 500) await admin.unlink(...keys.slice(i, i + 500));
}

/** How many of these keys exist, and the entries of their streams (a key that is not a stream fails). */
async function streamsLeft(admin: Redis, keys: readonly string[]): Promise<LogsLeft> {
  const left = { ...NO_LOGS };
  if (keys.length === 0) return left;
  const pipeline = admin.pipeline();
  for (const key of keys) pipeline.exists(key).xlen(key);
  for (const [i, [err, value]] of ((await pipeline.exec()) ?? []).entries()) {
    if (err) throw err;
    if (i % 2 === 0) left.logs += Number(value);
    else left.events += Number(value);
  }
  return left;
}

/** The connections whose name starts with `prefix` (the store names its own after its key prefix). */
async function connectionsNamed(admin: Redis, prefix: string): Promise<string[]> {
  const list = (await admin.call('CLIENT', 'LIST')) as string;
  return list
    .split('\n')
    .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '')
    .filter((name) => name.startsWith(prefix));
}

async function openAdmin(): Promise<Redis> {
  try {
    return await openRedis(REDIS_URL, { connectionName: 'agent-api-test-admin' });
  } catch (err) {
    throw new Error(`Redis is required for these tests (${REDIS_URL}): ${(err as Error).message}`, { cause: err });
  }
}

/** A Redis-backed store on a fresh SQLite file with its own key prefix; `close` removes what it left. */
async function openRedisStore(options: RedisRunStoreOptions = {}, dir = mkdtempSync(join(tmpdir(), 'agent-api-redis-'))) {
  const keyPrefix = options.keyPrefix ?? testPrefix();
  const databaseUrl = `sqlite:${join(dir, 'agent.db')}`;
  const store = await openStore(databaseUrl, { redisUrl: REDIS_URL, redis: { ...options, keyPrefix } });
  assert.ok(store instanceof RedisRunStore);
  return { store, keyPrefix, databaseUrl, dir };
}

/** The RunStore contract's view of the Redis store: a SQLite file and a key prefix per location, its logs the streams. */
function redisRunStores(): RunStoreBackend {
  let admin: Redis | undefined;
  const locations: { keyPrefix: string; dir: string }[] = [];
  return {
    expiredLogs: 'gone at expiry',
    refusals: { seqTaken: /is not above the last logged seq/, noLog: /has no log/ },
    async open() {
      const redis = (admin ??= await openAdmin());
      const { store, keyPrefix, dir } = await openRedisStore();
      locations.push({ keyPrefix, dir });
      return {
        store,
        openAnother: async () => (await openRedisStore({ keyPrefix }, dir)).store,
        // Without ids, every key under the prefix: the store makes no other.
        logsLeft: async (runIds) => streamsLeft(redis, runIds ? runIds.map((id) => store.eventsKey(id)) : await keysUnder(redis, keyPrefix)),
      };
    },
    async teardown() {
      if (admin) {
        for (const { keyPrefix } of locations) await deleteKeysUnder(admin, keyPrefix);
        await admin.quit();
      }
      for (const { dir } of locations) rmSync(dir, { recursive: true, force: true });
    },
  };
}

runStoreContract('redis (logs in Redis streams, registry in SQLite)', redisRunStores());

describe('RedisRunStore: streams, their expiry, and signals between instances', () => {
  let admin: Redis;
  let store: RedisRunStore;
  let prefix: string;
  let databaseUrl: string;
  let dir: string;
  const extra: RedisRunStore[] = [];
  const prefixes = new Set<string>();
  const dirs = new Set<string>();
  /** Closed, its keys deleted and its folder removed in `after`. */
  const track = (s: Awaited<ReturnType<typeof openRedisStore>>): RedisRunStore => {
    extra.push(s.store);
    prefixes.add(s.keyPrefix);
    dirs.add(s.dir);
    return s.store;
  };
  /** Another store on the same SQLite file and key prefix (unless given): another process, as far as Redis can tell. */
  const openAnother = async (options: RedisRunStoreOptions = {}) => track(await openRedisStore({ keyPrefix: prefix, ...options }, dir));
  /** A store with a SQLite file and key prefix of its own. */
  const openOwn = async () => track(await openRedisStore());

  const test = requiredSetup(async () => {
    admin = await openAdmin();
    ({ store, keyPrefix: prefix, databaseUrl, dir } = await openRedisStore());
  });
  after(async () => {
    for (const s of extra) await s.close().catch(() => {});
    await store?.close().catch(() => {});
    if (admin) {
      for (const p of [prefix, ...prefixes]) await deleteKeysUnder(admin, p);
      await admin.quit();
    }
    for (const d of [dir, ...dirs]) if (d) rmSync(d, { recursive: true, force: true });
  });

  const key = (runId: string) => store.eventsKey(runId);

  test('openStore with a redisUrl gives the Redis store, which offers RunSignals; sessions, messages and claims stay in the database', async () => {
    assert.ok(hasRunSignals(store));
    assert.equal(key('run_x'), `${prefix}run:run_x:events`);
    const a = owner();
    const id = sid();
    assert.ok(await store.openSession(id, a, 't'));
    assert.equal(await store.claimSession(id, a, 'token-1', Date.now() + 60_000), true);
    await store.appendMessages(id, a, [{ role: 'user', content: 'hi' }]);
    const plain = await openStore(databaseUrl);
    try {
      assert.ok(!(plain instanceof RedisRunStore));
      assert.ok(!hasRunSignals(plain), 'the SQL store alone polls');
      assert.equal((await plain.sessionClaim(id, a))?.token, 'token-1');
      assert.deepEqual(await plain.recentMessages(id, a, 5), [{ role: 'user', content: 'hi' }]);
    } finally {
      await plain.close();
    }
    assert.equal((await store.sessionClaim(id, a))?.token, 'token-1');
    await store.releaseSession(id, a, 'token-1');
    assert.equal(await store.sessionClaim(id, a), undefined);
    assert.deepEqual(await store.recentMessages(id, a, 5), [{ role: 'user', content: 'hi' }]);
  });

  test('createRun creates the run’s stream, empty and without expiry; its entries are 0-<seq>, only ever rising', async () => {
    const run = newRun(owner());
    await store.createRun(run);
    assert.equal(await admin.exists(key(run.id)), 1);
    assert.equal(await admin.xlen(key(run.id)), 0);
    assert.equal(await admin.pttl(key(run.id)), -1, 'a live run’s log does not expire');

    await store.appendRunEvents(run.id, events(1, 3));
    await store.appendRunEvents(run.id, events(5, 2)); // a gap is allowed
    const raw = await admin.xrange(key(run.id), '-', '+');
    assert.deepEqual(
      raw.map(([id]) => id),
      ['0-1', '0-2', '0-3', '0-5', '0-6'],
      'Redis orders the log by our own sequence numbers',
    );
    await assert.rejects(store.appendRunEvents(run.id, [...events(8, 1), ...events(7, 1)]), /not above/, 'rising order within a batch');
    await assert.rejects(store.appendRunEvents(run.id, events(4, 1)), /not above the last logged seq 6/, 'a seq below the last');
    assert.equal(await admin.xlen(key(run.id)), 5);
  });

  test('finishRun sets the stream to expire at events_expire_at; the end written after it keeps that expiry; a past expiry deletes it', async () => {
    const a = owner();
    const run = newRun(a);
    await store.createRun(run);
    await store.appendRunEvents(run.id, events(1, 3));
    const expireAt = Date.now() + HOUR + 0.7; // fractions are dropped, as the SQL store does
    assert.equal(await store.finishRun(run.id, outcome({ events_expire_at: expireAt })), true);
    assert.equal(await admin.pexpiretime(key(run.id)), Math.floor(expireAt));
    await store.appendRunEvents(run.id, events(4, 2)); // error + end of a sweep, or the run's own end
    assert.equal(await admin.pexpiretime(key(run.id)), Math.floor(expireAt));
    assert.equal(await store.lastRunEventSeq(run.id), 5);

    assert.equal(await store.finishRun(run.id, outcome({ events_expire_at: Date.now() + 10 * HOUR })), false);
    assert.equal(await admin.pexpiretime(key(run.id)), Math.floor(expireAt), 'a refused finish changes nothing');

    const short = newRun(a);
    await store.createRun(short);
    await store.appendRunEvents(short.id, events(1, 2));
    assert.equal(await store.finishRun(short.id, outcome({ events_expire_at: Date.now() - 1 })), true);
    assert.equal(await admin.exists(key(short.id)), 0, 'an expiry already past deletes the stream');
    assert.deepEqual(await store.readRunEvents(short.id, 0, 10), []);
  });

  test('pruneRunEvents deletes a stream whose expiry never reached Redis', async () => {
    // A store of its own: the prune looks past every expiry there.
    const s = await openOwn();
    const a = owner();
    const run = newRun(a);
    await s.createRun(run);
    await s.appendRunEvents(run.id, events(1, 3));
    await s.finishRun(run.id, outcome());
    await admin.persist(s.eventsKey(run.id)); // as if Redis failed right after the run was recorded ended
    assert.equal(await s.pruneRunEvents(Date.now() + 2 * HOUR, 10), 1);
    assert.equal((await s.getRun(run.id, a))?.events_pruned, true);
    assert.equal(await admin.exists(s.eventsKey(run.id)), 0);
  });

  test('waitForEvents resolves as soon as another instance appends; at once when events are already there', async () => {
    const run = newRun(owner());
    await store.createRun(run);
    const writer = await openAnother();
    const controller = new AbortController();
    const at = Date.now();
    const waiting = store.waitForEvents(run.id, 0, 30_000, controller.signal);
    await sleep(100);
    await writer.appendRunEvents(run.id, events(1, 2));
    await waiting;
    const took = Date.now() - at;
    assert.ok(took < 15_000, `woke after ${took} ms, not at the 30 s timeout`);

    const again = Date.now();
    await store.waitForEvents(run.id, 1, 30_000, controller.signal);
    assert.ok(Date.now() - again < 15_000, 'event 2 was already there');

    // Waiting past the last event blocks on Redis until the timeout.
    const timed = Date.now();
    await store.waitForEvents(run.id, 2, 300, controller.signal);
    assert.ok(Date.now() - timed >= 250, `a wait with nothing new lasts its timeout (${Date.now() - timed} ms)`);
  });

  test('an aborted wait resolves at once and gives its connection back: the pool never grows past its size', async () => {
    const ownPrefix = testPrefix();
    const s = await openAnother({ blockingConnections: 1, keyPrefix: ownPrefix });
    const run = newRun(owner());
    await s.createRun(run);
    for (let i = 0; i < 20; i++) {
      const controller = new AbortController();
      const waiting = s.waitForEvents(run.id, 0, 60_000, controller.signal);
      await sleep(20);
      const at = Date.now();
      controller.abort();
      await waiting;
      assert.ok(Date.now() - at < 5000, `abort ${i} took ${Date.now() - at} ms`);
    }
    assert.equal((await connectionsNamed(admin, `${ownPrefix}wait`)).length, 1, 'one blocking connection, reused');
    // Unblocked, not still blocked: this wait gets the connection and truly blocks until its timeout
    // (a pool still held by the aborted waits would send it to the 100 ms poll instead).
    const at = Date.now();
    await s.waitForEvents(run.id, 0, 1500, new AbortController().signal);
    assert.ok(Date.now() - at >= 1200, `blocked ${Date.now() - at} ms`);
    // An already aborted signal returns without touching Redis.
    const aborted = AbortSignal.abort();
    await s.waitForEvents(run.id, 0, 60_000, aborted);
  });

  test('waiters beyond the pool still wake (they poll), and all of them see the events', async () => {
    const s = await openAnother({ blockingConnections: 2 });
    const run = newRun(owner());
    await s.createRun(run);
    const signal = new AbortController().signal;
    const at = Date.now();
    // As the run service follows: read, and wait only when there is nothing new (a wake-up may be early).
    const follow = async () => {
      for (;;) {
        const rows = await s.readRunEvents(run.id, 0, 10);
        if (rows.length > 0) return rows;
        await s.waitForEvents(run.id, 0, 30_000, signal);
      }
    };
    const waiting = Array.from({ length: 6 }, follow);
    await sleep(100);
    await store.appendRunEvents(run.id, events(1, 1));
    const seen = await Promise.all(waiting);
    assert.ok(Date.now() - at < 15_000);
    for (const rows of seen) assert.deepEqual(rows, events(1, 1));
  });

  test('publishCancel reaches the onCancel listeners of every instance on the same prefix; unsubscribe stops them', async () => {
    const other = await openAnother();
    const elsewhere = await openAnother({ keyPrefix: testPrefix() });
    const got: string[] = [];
    const gotHere: string[] = [];
    const gotElsewhere: string[] = [];
    const unsubscribe = other.onCancel((id) => got.push(id));
    store.onCancel((id) => gotHere.push(id));
    elsewhere.onCancel((id) => gotElsewhere.push(id));
    other.onCancel(() => {
      throw new Error('a failing listener does not stop the others');
    });

    await store.publishCancel('run_one');
    await waitFor(() => got.length === 1 && gotHere.length === 1, 'the cancel to arrive');
    assert.deepEqual(got, ['run_one']);
    unsubscribe();
    await store.publishCancel('run_two');
    await waitFor(() => gotHere.length === 2, 'the second cancel to arrive');
    await sleep(100);
    assert.deepEqual(got, ['run_one'], 'unsubscribed');
    assert.deepEqual(gotHere, ['run_one', 'run_two']);
    assert.deepEqual(gotElsewhere, [], 'another prefix is another deployment');
  });

  test('ping checks the database and Redis; close() closes every connection it opened', async () => {
    const s = await openRedisStore();
    try {
      await s.store.ping();
      const run = newRun(owner());
      await s.store.createRun(run);
      const controller = new AbortController();
      const waiting = s.store.waitForEvents(run.id, 0, 60_000, controller.signal);
      await sleep(50);
      assert.deepEqual((await connectionsNamed(admin, s.keyPrefix)).sort(), [`${s.keyPrefix}cancels`, `${s.keyPrefix}commands`, `${s.keyPrefix}wait`]);
      await s.store.close();
      await waiting; // its connection closed under it: it returns like a timeout
      let left: string[] = [];
      for (let i = 0; i < 50; i++) {
        left = await connectionsNamed(admin, s.keyPrefix);
        if (left.length === 0) break;
        await sleep(20);
      }
      assert.deepEqual(left, []);
      await assert.rejects(s.store.ping());
    } finally {
      await deleteKeysUnder(admin, s.keyPrefix);
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe('REDIS_URL: configuration and start-up', () => {
  nodeTest('redis:// and rediss:// URLs are accepted; anything else is refused naming REDIS_URL', () => {
    assert.equal(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).REDIS_URL, 'redis://127.0.0.1:6379');
    assert.equal(loadConfig({ REDIS_URL: 'rediss://user:secret@cache.example:6380/2' }).REDIS_URL, 'rediss://user:secret@cache.example:6380/2');
    assert.equal(loadConfig({}).REDIS_URL, undefined);
    assert.equal(loadConfig({ REDIS_URL: '  ' }).REDIS_URL, undefined, 'blank is unset');
    for (const bad of ['http://127.0.0.1:6379', '127.0.0.1:6379', 'redis://', 'redis:/x']) {
      assert.throws(
        () => loadConfig({ REDIS_URL: bad }),
        (err: unknown) => err instanceof ConfigError && /REDIS_URL/.test(err.message),
        bad,
      );
    }
  });

  nodeTest('an unreachable Redis fails openStore with a message naming REDIS_URL, host and port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-api-redis-'));
    try {
      await assert.rejects(openStore(`sqlite:${join(dir, 'a.db')}`, { redisUrl: 'redis://127.0.0.1:1' }), (err: unknown) => {
        assert.ok(err instanceof RedisUnreachableError);
        assert.match(err.message, /^REDIS_URL: cannot reach Redis at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)$/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  nodeTest('createAgentServer with an unreachable REDIS_URL stops with a ConfigError (printed without a stack)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-api-redis-'));
    try {
      const config = loadConfig({ DATABASE_URL: `sqlite:${join(dir, 'a.db')}`, REDIS_URL: 'redis://127.0.0.1:1', VALID_API_KEYS: 'k', LOG_LEVEL: 'silent' });
      await assert.rejects(
        createAgentServer({ config }),
        (err: unknown) => err instanceof ConfigError && err.message.startsWith('REDIS_URL: cannot reach Redis at 127.0.0.1:1'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;

describe('the service with REDIS_URL', () => {
  let admin: Redis;
  let a: TestService;
  let b: TestService;
  const runIds: string[] = [];
  const test = requiredSetup(async () => {
    admin = await openAdmin();
    a = await startService({ env: { REDIS_URL } });
    // Another instance (as another replica would be) on the same database and Redis.
    b = await startService({ env: { REDIS_URL }, dir: a.dir, fake: a.fake, keepDir: true });
  });
  after(async () => {
    await b?.close();
    await a?.close();
    if (admin) {
      for (const id of runIds) await admin.unlink(`agent-api:run:${id}:events`);
      await admin.quit();
    }
  });

  test('a streamed turn is logged in a Redis stream under our sequence numbers; Last-Event-ID replays the rest on either instance', async () => {
    const chunks = ['Hel', 'lo ', 'from ', 'Redis ✓'];
    a.fake.enqueue({ text: chunks.join(''), chunks });
    const res = await a.stream({ message: 'hi' });
    assert.equal(res.status, 200);
    const streamed = parseSse(await readChunks(res)).events;
    const runId = (streamed[0]!.data as Ev<'start'>).run_id;
    runIds.push(runId);
    assert.deepEqual(
      streamed.map((e) => e.id),
      streamed.map((_, i) => String(i + 1)),
    );
    assert.equal((streamed.at(-1)!.data as Ev<'end'>).reply, chunks.join(''));

    const logged = await admin.xrange(`agent-api:run:${runId}:events`, '-', '+');
    assert.deepEqual(
      logged.map(([id]) => id),
      streamed.map((e) => `0-${e.id}`),
    );
    assert.deepEqual(
      logged.map(([, fields]) => JSON.parse(fields[1]!) as StreamEvent),
      streamed.map((e) => e.data),
    );
    assert.ok((await admin.pttl(`agent-api:run:${runId}:events`)) > 0, 'the ended run’s log expires');

    for (const svc of [a, b]) {
      const replay = await svc.request(`/runs/${runId}/events`, { headers: { 'last-event-id': '2' } });
      assert.equal(replay.status, 200);
      const rest = parseSse(await replay.text()).events;
      assert.deepEqual(rest, streamed.slice(2));
    }
    assert.equal((await a.request('/ready')).status, 200);
  });

  test('a run on A followed from B as it goes, then cancelled from B', async () => {
    const text = Array.from({ length: 60 }, (_, i) => `t${i} `);
    const n = a.fake.requests.length;
    a.fake.enqueue({ text: text.join(''), chunks: text, delayMs: 50 });
    const started = await a.request('/runs', { method: 'POST', json: { message: 'long one' } });
    assert.equal(started.status, 202);
    const runId = ((await started.json()) as { run_id: string }).run_id;
    runIds.push(runId);
    await a.fake.waitForRequests(n + 1, 10_000);

    const following = await b.request(`/runs/${runId}/events`);
    assert.equal(following.status, 200);
    let relayed = '';
    const seen = readChunks(following, (chunk) => (relayed += chunk));
    await waitFor(() => (relayed.match(/"type":"token"/g) ?? []).length >= 3, 'B to relay tokens while the run goes', 10_000);

    const cancel = await b.request(`/runs/${runId}/cancel`, { method: 'POST' });
    assert.equal(cancel.status, 202);
    await a.fake.waitForAbort(n, 5000);
    const events = parseSse(await seen).events;
    assert.deepEqual(
      events.map((e) => e.id),
      events.map((_, i) => String(i + 1)),
      'B relayed every event, in order',
    );
    assert.deepEqual(
      events.slice(-2).map((e) => e.data.type),
      ['error', 'end'],
    );
    assert.equal((events.at(-2)!.data as Ev<'error'>).code, 'cancelled');
    const run = (await (await b.request(`/runs/${runId}`)).json()) as { status: string };
    assert.equal(run.status, 'cancelled');
  });

  test('RATE_LIMIT_PER_MINUTE is one count per key across instances sharing Redis', async () => {
    // Keys of their own: counts outlive the test by a minute, and a rerun must start from zero.
    const [key, otherKey] = [`rate-key-${randomUUID()}`, `rate-key-${randomUUID()}`];
    const env = { REDIS_URL, RATE_LIMIT_PER_MINUTE: '3', VALID_API_KEYS: `${key},${otherKey}` };
    const one = await startService({ env, transport: 'inject' });
    const two = await startService({ env, transport: 'inject', dir: one.dir, fake: one.fake, keepDir: true });
    try {
      const statuses: number[] = [];
      for (const svc of [one, two, one, two]) statuses.push((await svc.request('/sessions', { key })).status);
      assert.deepEqual(statuses, [200, 200, 200, 429], 'the fourth request, across both, is over the limit');
      const refused = await one.request('/sessions', { key });
      assert.equal(refused.status, 429);
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'rate_limited');
      assert.equal((await two.request('/sessions', { key: otherKey })).status, 200, 'another key has its own count');
    } finally {
      await two.close();
      await one.close();
    }
  });
});

describe('two replicas (processes) sharing one SQLite file and Redis', () => {
  const KEY = 'redis-replica-key';
  const LEASE_MS = 3000;
  let fake: FakeLlm;
  let admin: Redis;
  let a: ChildService;
  let b: ChildService;
  const runIds: string[] = [];
  const test = requiredSetup(async () => {
    admin = await openAdmin();
    fake = await startFakeLlm();
    const env = { REDIS_URL, VALID_API_KEYS: KEY, LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake', RUN_LEASE_MS: String(LEASE_MS) };
    a = await startChild({ env });
    b = await startChild({ env: { ...env, DATABASE_URL: `sqlite:${join(a.dir, 'a.db')}` } });
  });
  after(async () => {
    await stopAllChildren();
    await fake?.close();
    if (admin) {
      for (const id of runIds) await admin.unlink(`agent-api:run:${id}:events`);
      await admin.quit();
    }
  });

  test('kill -9 of the replica running a run: B, following it on Redis, gets error + end within the lease; the log is complete', async () => {
    const text = Array.from({ length: 200 }, (_, i) => `t${i} `);
    const n = fake.requests.length;
    fake.enqueue({ text: text.join(''), chunks: text, delayMs: 100 });
    const started = (await a.request('/runs', { key: KEY, json: { message: 'doomed' } })).json<{ run_id: string }>();
    runIds.push(started.run_id);
    await fake.waitForRequests(n + 1, 10_000);
    const following = b.fetch(`/runs/${started.run_id}/events`, { key: KEY }).then((res) => res.text());
    await sleep(500);
    a.signal('SIGKILL');
    const at = Date.now();
    const seen = parseSse(await following).events;
    assert.ok(Date.now() - at < LEASE_MS + 3000, `the follower was told in ${Date.now() - at} ms`);
    assert.deepEqual(
      seen.map((e) => e.id),
      seen.map((_, i) => String(i + 1)),
    );
    assert.deepEqual(
      seen.slice(-2).map((e) => e.data.type),
      ['error', 'end'],
    );
    assert.equal((seen.at(-2)!.data as Ev<'error'>).code, 'interrupted');
    const run = (await b.request(`/runs/${started.run_id}`, { key: KEY })).json<{ status: string; reply: string }>();
    assert.equal(run.status, 'interrupted');
    assert.ok(run.reply.startsWith('t0 '), run.reply);
    assert.equal(await admin.xlen(`agent-api:run:${started.run_id}:events`), seen.length, 'the sweeper wrote error + end into the stream');
    assert.ok((await admin.pttl(`agent-api:run:${started.run_id}:events`)) > 0, 'and the stream expires');
  });
});
