/**
 * Runs across processes: two replicas (separate service processes on their own ports) sharing one
 * database, with the embedded default (one SQLite file) and with PostgreSQL. A stream dropped on
 * A resumes on B; a cancel sent to B stops the run on A; a replica killed with -9 leaves its run
 * `interrupted` within the lease, its session free, and its followers told.
 *
 * The embedded default with WORKERS=2 gets the same resume and cancel checks.
 *
 * PostgreSQL is required (127.0.0.1:5432, or DATABASE_URL when it is postgres://): a throwaway
 * database is created for the run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { StreamEvent } from '../src/core/events.js';
import type { Run } from '../src/core/runs.js';
import { startChild, stopAllChildren, type ChildService } from './support/child-service.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { parseSse } from './support/service.js';

const KEY = 'replica-key';
const LEASE_MS = 3000;
const envUrl = process.env['DATABASE_URL'];
const PG_ADMIN_URL = envUrl && /^postgres(ql)?:\/\//.test(envUrl) ? envUrl : 'postgres://postgres@127.0.0.1:5432/test';

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(async () => {
  await stopAllChildren();
  await fake.close();
});

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;
type Logged = Array<{ id: string | undefined; data: StreamEvent }>;

/** Complete SSE blocks of `text` (a partial last block is left out). */
const blocks = (text: string): Logged => parseSse(text.slice(0, text.lastIndexOf('\n\n') + 2)).events;

/** Reads until `n` events have arrived, then drops the connection. */
async function readThenDrop(res: Response, n: number): Promise<Logged> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (blocks(text).length < n) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return blocks(text);
}

async function follow(replica: ChildService, runId: string, lastEventId?: string): Promise<Logged> {
  const res = await replica.fetch(`/runs/${runId}/events`, { key: KEY, headers: lastEventId ? { 'last-event-id': lastEventId } : {} });
  assert.equal(res.status, 200);
  return parseSse(await res.text()).events;
}

async function runOf(replica: ChildService, runId: string): Promise<Run> {
  return (await replica.request(`/runs/${runId}`, { key: KEY })).json<Run>();
}

const slowText = (n: number) => Array.from({ length: n }, (_, i) => `t${i} `);

interface Backend {
  name: string;
  setup(): Promise<string>;
  teardown(): Promise<void>;
}

function sqliteBackend(): Backend {
  let dir = '';
  return {
    name: 'one SQLite file (the embedded default)',
    setup: async () => {
      dir = mkdtempSync(join(tmpdir(), 'agent-api-replicas-'));
      return `sqlite:${join(dir, 'shared.db')}`;
    },
    teardown: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function postgresBackend(): Backend {
  const name = `agent_api_replicas_${randomBytes(6).toString('hex')}`;
  const admin = () => new pg.Client({ connectionString: PG_ADMIN_URL });
  return {
    name: 'PostgreSQL',
    setup: async () => {
      const client = admin();
      try {
        await client.connect();
      } catch (err) {
        throw new Error(`PostgreSQL is required for these tests (${PG_ADMIN_URL}): ${(err as Error).message}`, { cause: err });
      }
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      const url = new URL(PG_ADMIN_URL);
      url.pathname = `/${name}`;
      return url.toString();
    },
    teardown: async () => {
      const client = admin();
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

for (const backend of [sqliteBackend(), postgresBackend()]) {
  describe(`two replicas sharing ${backend.name}`, () => {
    let a: ChildService;
    let b: ChildService;
    before(async () => {
      const url = await backend.setup();
      const env = {
        DATABASE_URL: url,
        VALID_API_KEYS: KEY,
        LLM_BASE_URL: fake.url,
        LLM_MODEL: 'fake-model',
        LLM_API_KEY: 'sk-fake',
        RUN_LEASE_MS: String(LEASE_MS),
      };
      // One after the other: the first migrates the new database.
      a = await startChild({ env });
      b = await startChild({ env });
    });
    after(async () => {
      await a?.stop();
      await b?.stop();
      await backend.teardown();
    });

    test('a stream dropped on A resumes on B with Last-Event-ID: exactly the missing events, in order', async () => {
      const text = slowText(15);
      fake.enqueue({ text: text.join(''), chunks: text, delayMs: 40 });
      const first = await readThenDrop(await a.fetch('/chat/stream', { key: KEY, json: { message: 'talk', on_disconnect: 'continue' } }), 4);
      const runId = (first[0]!.data as Ev<'start'>).run_id;
      const rest = await follow(b, runId, first.at(-1)!.id);
      const all = [...first, ...rest];
      assert.deepEqual(
        all.map((e) => e.id),
        all.map((_, i) => String(i + 1)),
        'no duplicate, no gap',
      );
      const end = all.at(-1)!.data as Ev<'end'>;
      assert.equal(end.type, 'end');
      assert.equal(end.reply, text.join(''));
      assert.equal((await runOf(b, runId)).status, 'completed');
    });

    test('a cancel sent to B stops the run on A within a second; the model sees the hang-up', async () => {
      const text = slowText(40);
      const n = fake.requests.length;
      fake.enqueue({ text: text.join(''), chunks: text, delayMs: 100 });
      const started = (await a.request('/runs', { key: KEY, json: { message: 'long one' } })).json<{ run_id: string }>();
      await fake.waitForRequests(n + 1, 10_000);
      const following = follow(a, started.run_id);
      const at = Date.now();
      const res = await b.request(`/runs/${started.run_id}/cancel`, { method: 'POST', key: KEY });
      assert.equal(res.status, 202, res.text);
      await fake.waitForAbort(n, 5000);
      const took = Date.now() - at;
      assert.ok(took < 1000, `stopped in ${took} ms`);
      const seen = await following;
      assert.deepEqual(
        seen.slice(-2).map((e) => e.data.type),
        ['error', 'end'],
      );
      assert.equal((seen.at(-2)!.data as Ev<'error'>).code, 'cancelled');
      assert.equal((await runOf(b, started.run_id)).status, 'cancelled');
    });

    test('kill -9 of the replica running a run: interrupted within the lease, the session takes a new message, a follower gets error + end', async () => {
      const text = slowText(200);
      const n = fake.requests.length;
      fake.enqueue({ text: text.join(''), chunks: text, delayMs: 100 });
      const started = (await a.request('/runs', { key: KEY, json: { message: 'doomed', session_id: 'replica-kill' } })).json<{ run_id: string }>();
      await fake.waitForRequests(n + 1, 10_000);
      const following = follow(b, started.run_id);
      await sleep(300);
      a.signal('SIGKILL');
      const at = Date.now();
      const seen = await following;
      const took = Date.now() - at;
      assert.ok(took < LEASE_MS + 2000, `the follower was told in ${took} ms`);
      assert.deepEqual(
        seen.slice(-2).map((e) => e.data.type),
        ['error', 'end'],
      );
      assert.equal((seen.at(-2)!.data as Ev<'error'>).code, 'interrupted');
      const run = await runOf(b, started.run_id);
      assert.equal(run.status, 'interrupted');
      assert.ok(run.reply.startsWith('t0 '), run.reply);
      fake.enqueue({ text: 'I am back' });
      const next = await b.request('/chat', { key: KEY, json: { message: 'again', session_id: 'replica-kill' } });
      assert.equal(next.status, 200, next.text);
      assert.equal(next.json<{ reply: string }>().reply, 'I am back');
    });
  });
}

describe('two cluster workers (WORKERS=2) on one SQLite file, no Redis', () => {
  let child: ChildService;
  before(async () => {
    child = await startChild({
      env: { WORKERS: '2', VALID_API_KEYS: KEY, LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake', RUN_LEASE_MS: String(LEASE_MS) },
    });
  });
  after(() => child?.stop());

  test('a dropped stream resumes on a new connection (whichever worker takes it): exactly the missing events', async () => {
    // Several rounds, each resume on a fresh connection, so the primary hands resumes to both workers.
    for (let round = 0; round < 4; round++) {
      const text = slowText(10);
      fake.enqueue({ text: text.join(''), chunks: text, delayMs: 30 });
      const first = await readThenDrop(await child.fetch('/chat/stream', { key: KEY, json: { message: `talk ${round}`, on_disconnect: 'continue' } }), 3);
      const runId = (first[0]!.data as Ev<'start'>).run_id;
      const res = await child.request(`/runs/${runId}/events`, { key: KEY });
      assert.equal(res.status, 200);
      const rest = parseSse(res.text).events.filter((e) => Number(e.id) > Number(first.at(-1)!.id));
      const all = [...first, ...rest];
      assert.deepEqual(
        all.map((e) => e.id),
        all.map((_, i) => String(i + 1)),
        `round ${round}: no duplicate, no gap`,
      );
      assert.equal((all.at(-1)!.data as Ev<'end'>).reply, text.join(''));
    }
  });

  test('a cancel on a new connection stops the run within a second, on whichever worker runs it', async () => {
    for (let round = 0; round < 3; round++) {
      const text = slowText(40);
      const n = fake.requests.length;
      fake.enqueue({ text: text.join(''), chunks: text, delayMs: 100 });
      const started = (await child.request('/runs', { key: KEY, json: { message: `long ${round}` } })).json<{ run_id: string }>();
      await fake.waitForRequests(n + 1, 10_000);
      const at = Date.now();
      const res = await child.request(`/runs/${started.run_id}/cancel`, { method: 'POST', key: KEY });
      assert.equal(res.status, 202, res.text);
      await fake.waitForAbort(n, 5000);
      assert.ok(Date.now() - at < 1000, `round ${round}: stopped in ${Date.now() - at} ms`);
      await sleep(100);
      assert.equal((await runOf(child, started.run_id)).status, 'cancelled');
    }
  });
});
