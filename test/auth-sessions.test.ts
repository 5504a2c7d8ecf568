/**
 * Authentication (X-API-Key) and sessions: who may see what, listing, reading, deleting, and
 * session_id validation. Runs the real service against the fake LLM, through Fastify's inject()
 * (nothing here needs a socket).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ApiKeys, generateApiKey } from '../src/http/api-keys.js';
import { KEY_A, KEY_B, parseSse, startService, type TestService } from './support/service.js';

// Extra keys so each session test sees only the sessions it created.
const KEY_LIST = 'test-key-list';
const KEY_MSGS = 'test-key-messages';
const KEY_DEL = 'test-key-delete';
const ALL_KEYS = [KEY_A, KEY_B, KEY_LIST, KEY_MSGS, KEY_DEL];
const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
/**
 * better-sqlite3 objects this file opens stay reachable until it exits: on Node 24 one that the
 * garbage collector frees aborts the process (see src/store/connect-database.ts).
 */
const sqliteObjects: object[] = [];
const keepAlive = <T extends object>(o: T): T => (sqliteObjects.push(o), o);

interface ErrorJson {
  error: { code: string; message: string; request_id: string; details?: unknown };
}
interface SessionInfoJson {
  id: string;
  title: string | null;
  message_count: number;
  created_at: string;
  updated_at: string;
  active_run_id: string | null;
  agent: string | null;
}
interface SessionListJson {
  sessions: SessionInfoJson[];
  next_before: string | null;
}
interface SessionDetailJson extends SessionInfoJson {
  messages: Array<Record<string, unknown> & { seq: number; role: string; created_at: string }>;
  next_after: number | null;
}
interface ChatJson {
  reply: string;
  session_id: string;
  tool_calls: Array<{ id: string; name: string; arguments: unknown; result: unknown }>;
}

async function expectError(res: Response, status: number, code: string): Promise<ErrorJson['error']> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as ErrorJson;
  assert.equal(body.error.code, code, text);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(body.error.request_id, res.headers.get('x-request-id'));
  return body.error;
}

let svc: TestService;
before(async () => {
  svc = await startService({ env: { VALID_API_KEYS: ALL_KEYS.join(',') }, transport: 'inject' });
});
after(() => svc.close());

/** Starts a session with `key` and returns its id. */
async function newSession(key: string, message = 'hello'): Promise<string> {
  const res = await svc.chat({ message }, key);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return (JSON.parse(text) as ChatJson).session_id;
}

async function listSessions(key: string, query = ''): Promise<SessionListJson> {
  const res = await svc.request(`/sessions${query}`, { key });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as SessionListJson;
}

async function getSession(key: string, id: string, query = ''): Promise<SessionDetailJson> {
  const res = await svc.request(`/sessions/${id}${query}`, { key });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as SessionDetailJson;
}

describe('authentication', () => {
  const protectedRoutes: Array<{ method: string; path: string; json?: unknown }> = [
    { method: 'POST', path: '/chat', json: { message: 'hi' } },
    { method: 'POST', path: '/chat/stream', json: { message: 'hi' } },
    { method: 'GET', path: '/sessions' },
    { method: 'GET', path: '/sessions/some-session' },
    { method: 'DELETE', path: '/sessions/some-session' },
  ];

  for (const route of protectedRoutes) {
    test(`${route.method} ${route.path}: 401 without a key and with an unknown key`, async () => {
      const modelCalls = svc.fake.requests.length;
      const init = { method: route.method, ...(route.json === undefined ? {} : { json: route.json }) };

      const missing = await svc.request(route.path, { ...init, key: null });
      const e1 = await expectError(missing, 401, 'unauthorized');
      assert.match(e1.message, /missing/i);
      assert.doesNotMatch(e1.message, /unknown/i);

      const wrong = await svc.request(route.path, { ...init, key: 'not-a-valid-key' });
      const e2 = await expectError(wrong, 401, 'unauthorized');
      assert.match(e2.message, /unknown/i);
      assert.doesNotMatch(e2.message, /not-a-valid-key/, 'the key is not echoed');

      // The body is exactly { error: { code, message, request_id } }.
      const again = await svc.request(route.path, { ...init, key: 'also-wrong' });
      const body = (await again.json()) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), ['error']);
      assert.deepEqual(Object.keys(body['error'] as object).sort(), ['code', 'message', 'request_id']);

      assert.equal(svc.fake.requests.length, modelCalls, 'no model call for an unauthenticated request');
    });
  }

  test('an empty X-API-Key counts as missing; a near-miss key is unknown', async () => {
    const empty = await svc.request('/sessions', { key: null, headers: { 'x-api-key': '' } });
    assert.match((await expectError(empty, 401, 'unauthorized')).message, /missing/i);
    assert.match((await expectError(await svc.request('/sessions', { key: `${KEY_A}x` }), 401, 'unauthorized')).message, /unknown/i);
    assert.match((await expectError(await svc.request('/sessions', { key: KEY_A.slice(0, -1) }), 401, 'unauthorized')).message, /unknown/i);
  });

  test('/health, /ready, /docs and /openapi.json need no key', async () => {
    for (const path of ['/health', '/ready', '/docs', '/openapi.json']) {
      const res = await svc.request(path, { key: null });
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      await res.arrayBuffer();
    }
  });

  test('ApiKeys: stable owner per key, distinct per key, sha256 hex, undefined for wrong or empty keys', () => {
    const keys = new ApiKeys(['key-one', 'key-two']);
    const one = keys.authenticate('key-one');
    const two = keys.authenticate('key-two');
    assert.ok(one && two);
    assert.equal(keys.authenticate('key-one'), one);
    assert.equal(new ApiKeys(['key-two', 'key-one']).authenticate('key-one'), one, 'the owner depends on the key only');
    assert.notEqual(one, two);
    assert.match(one, /^[0-9a-f]{64}$/);
    assert.equal(one, sha256hex('key-one'));
    assert.ok(!one.includes('key-one'));
    assert.equal(keys.authenticate('key-three'), undefined);
    assert.equal(keys.authenticate('key-one '), undefined);
    assert.equal(keys.authenticate('KEY-ONE'), undefined);
    assert.equal(keys.authenticate(''), undefined);
    assert.equal(keys.authenticate(undefined), undefined);
  });

  test('generateApiKey: a distinct URL-safe key of at least 30 characters each call', () => {
    const keys = Array.from({ length: 50 }, generateApiKey);
    assert.equal(new Set(keys).size, keys.length);
    for (const k of keys) {
      assert.ok(k.length >= 30, k);
      assert.match(k, /^[A-Za-z0-9_-]+$/);
      assert.ok(new ApiKeys([k]).authenticate(k), 'a generated key works as a key');
    }
  });

  test('keys are never stored in plain text', async () => {
    const idA = await newSession(KEY_A, 'remember this');
    await newSession(KEY_B, 'and this');

    const dbPath = join(svc.dir, 'agent.db');
    const db = keepAlive(new Database(dbPath, { readonly: true, fileMustExist: true }));
    try {
      const tables = keepAlive(db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`)).pluck().all() as string[];
      assert.ok(tables.includes('sessions') && tables.includes('messages'), `tables: ${tables.join(', ')}`);
      let cells = 0;
      for (const table of tables) {
        for (const row of keepAlive(db.prepare(`SELECT * FROM "${table}"`)).all() as Array<Record<string, unknown>>) {
          for (const [column, value] of Object.entries(row)) {
            cells++;
            const text = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
            for (const key of ALL_KEYS) assert.ok(!text.includes(key), `${table}.${column} holds an API key in plain text`);
          }
        }
      }
      assert.ok(cells > 0, 'the database holds data');
      const row = keepAlive(db.prepare('SELECT owner FROM sessions WHERE id = ?')).get(idA) as { owner: string } | undefined;
      assert.equal(row?.owner, sha256hex(KEY_A), "the owner column is the key's sha256");
    } finally {
      db.close();
    }
    // Nor anywhere in the raw files (WAL included).
    for (const file of [dbPath, `${dbPath}-wal`]) {
      if (!existsSync(file)) continue;
      const bytes = readFileSync(file);
      for (const key of ALL_KEYS) assert.equal(bytes.indexOf(key), -1, `${file} contains an API key`);
    }
  });
});

describe('session ids are per key', () => {
  let idA: string;
  before(async () => {
    svc.fake.enqueue({ text: 'A private reply' });
    idA = await newSession(KEY_A, 'A private message');
  });

  /** The error a key gets for a session id, with the id taken out: it must not depend on whether another key uses the id. */
  async function notFoundShape(key: string, id: string, method = 'GET'): Promise<unknown> {
    const res = await svc.request(`/sessions/${id}`, { method, key });
    const e = await expectError(res, 404, 'session_not_found');
    return { status: res.status, code: e.code, message: e.message.replaceAll(id, '<id>') };
  }

  test("GET and DELETE /sessions/:id with another key: the same 404 as an id nobody uses, and the owner's session survives", async () => {
    const unknown = `never-used-${Date.now()}`;
    assert.deepEqual(await notFoundShape(KEY_B, idA), await notFoundShape(KEY_B, unknown));
    assert.deepEqual(await notFoundShape(KEY_B, idA, 'DELETE'), await notFoundShape(KEY_B, unknown, 'DELETE'));
    const mine = await getSession(KEY_A, idA);
    assert.equal(mine.message_count, 2);
  });

  test("/chat with another key on that id: a new session of the other key's own, with none of the owner's history", async () => {
    const n = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'B reply' });
    const res = await svc.chat({ message: 'B uses the same id', session_id: idA }, KEY_B);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.equal((JSON.parse(text) as ChatJson).session_id, idA);
    const sent = JSON.stringify(svc.fake.requests[n]);
    assert.ok(sent.includes('B uses the same id'));
    assert.ok(!sent.includes('A private'), "the model saw none of the other key's messages");

    const theirs = await getSession(KEY_B, idA);
    assert.equal(theirs.title, 'B uses the same id');
    assert.deepEqual(
      theirs.messages.map((m) => [m.role, m['content']]),
      [
        ['user', 'B uses the same id'],
        ['assistant', 'B reply'],
      ],
    );
    const mine = await getSession(KEY_A, idA);
    assert.deepEqual(
      mine.messages.map((m) => [m.role, m['content']]),
      [
        ['user', 'A private message'],
        ['assistant', 'A private reply'],
      ],
    );
  });

  test('/chat/stream with another key on that id streams into that key’s session', async () => {
    svc.fake.enqueue({ text: 'B streamed' });
    const res = await svc.stream({ message: 'B again', session_id: idA }, KEY_B);
    assert.equal(res.status, 200);
    const { events } = parseSse(await res.text());
    const start = events[0]?.data;
    assert.equal(start?.type === 'start' && start.session_id, idA);
    assert.equal(events.at(-1)?.data.type, 'end');
    assert.equal((await getSession(KEY_B, idA)).message_count, 4);
    assert.equal((await getSession(KEY_A, idA)).message_count, 2);
  });

  test("GET /sessions lists each key's own session under the shared id", async () => {
    const theirs = await listSessions(KEY_B, '?limit=200');
    assert.equal(theirs.sessions.find((s) => s.id === idA)?.title, 'B uses the same id');
    const mine = await listSessions(KEY_A, '?limit=200');
    assert.equal(mine.sessions.find((s) => s.id === idA)?.title, 'A private message');
  });

  test('DELETE by one key removes only its own session; the owner keeps using theirs', async () => {
    const del = await svc.request(`/sessions/${idA}`, { method: 'DELETE', key: KEY_B });
    assert.equal(del.status, 204, await del.text());
    await expectError(await svc.request(`/sessions/${idA}`, { key: KEY_B }), 404, 'session_not_found');
    svc.fake.enqueue({ text: 'still yours' });
    const res = await svc.chat({ message: 'again', session_id: idA }, KEY_A);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as ChatJson).session_id, idA);
    assert.equal((await getSession(KEY_A, idA)).message_count, 4);
  });
});

describe('GET /sessions', () => {
  test("lists the caller's sessions, most recent first, and pages with limit + next_before", async () => {
    const longMessage = `first ${'x'.repeat(200)}`;
    const s1 = await newSession(KEY_LIST, longMessage);
    await sleep(3);
    const s2 = await newSession(KEY_LIST, 'second');
    await sleep(3);
    const s3 = await newSession(KEY_LIST, 'third');
    await sleep(3);
    svc.fake.enqueue({ text: 'back to one' });
    const cont = await svc.chat({ message: 'continue', session_id: s1 }, KEY_LIST);
    assert.equal(cont.status, 200);
    await cont.arrayBuffer();

    const all = await listSessions(KEY_LIST);
    assert.deepEqual(
      all.sessions.map((s) => s.id),
      [s1, s3, s2],
    );
    assert.equal(all.next_before, null);
    for (const s of all.sessions) {
      assert.deepEqual(Object.keys(s).sort(), ['active_run_id', 'agent', 'created_at', 'id', 'message_count', 'title', 'updated_at']);
      assert.equal(s.active_run_id, null, 'no run is answering');
      assert.equal(s.agent, null, 'a server of one agent names none: its sessions belong to whichever agent it serves');
      assert.ok(!Number.isNaN(Date.parse(s.created_at)) && !Number.isNaN(Date.parse(s.updated_at)));
      assert.ok(s.updated_at >= s.created_at);
    }
    const [one, three, two] = all.sessions as [SessionInfoJson, SessionInfoJson, SessionInfoJson];
    assert.equal(one.message_count, 4);
    assert.equal(three.message_count, 2);
    assert.equal(two.message_count, 2);
    assert.equal(three.title, 'third');
    assert.equal(two.title, 'second');
    assert.ok(
      one.title && longMessage.startsWith(one.title) && one.title.length > 0 && one.title.length < longMessage.length,
      'the title is the start of the first message',
    );
    assert.ok(one.updated_at > one.created_at);

    const page1 = await listSessions(KEY_LIST, '?limit=2');
    assert.deepEqual(
      page1.sessions.map((s) => s.id),
      [s1, s3],
    );
    assert.ok(page1.next_before);
    const page2 = await listSessions(KEY_LIST, `?limit=2&before=${encodeURIComponent(page1.next_before)}`);
    assert.deepEqual(
      page2.sessions.map((s) => s.id),
      [s2],
    );
    assert.equal(page2.next_before, null);

    const byOne: string[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 5; i++) {
      const page: SessionListJson = await listSessions(KEY_LIST, `?limit=1${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`);
      byOne.push(...page.sessions.map((s) => s.id));
      cursor = page.next_before;
      if (!cursor) break;
    }
    assert.deepEqual(byOne, [s1, s3, s2]);
  });

  test('a key with no sessions gets an empty list', async () => {
    const res = await svc.request('/sessions', { key: KEY_DEL });
    // KEY_DEL's own tests run later; at this point it has no sessions.
    assert.deepEqual(await res.json(), { sessions: [], next_before: null });
  });

  test('bad paging parameters are 400 validation_error', async () => {
    for (const q of ['?limit=0', '?limit=201', '?limit=abc', `?before=${'x'.repeat(201)}`]) {
      const e = await expectError(await svc.request(`/sessions${q}`, { key: KEY_LIST }), 400, 'validation_error');
      assert.match(e.message, /querystring\.(limit|before)/);
    }
  });
});

describe('GET /sessions/:id', () => {
  let id: string;
  before(async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_calc', name: 'calculator', arguments: { expression: '6*7' } }] }, { text: 'It is 42.' });
    const res = await svc.chat({ message: 'What is 6*7?' }, KEY_MSGS);
    const body = (await res.json()) as ChatJson;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.reply, 'It is 42.');
    assert.deepEqual(body.tool_calls, [{ id: 'call_calc', name: 'calculator', arguments: { expression: '6*7' }, result: { expression: '6*7', result: 42 } }]);
    id = body.session_id;
  });

  test('returns the messages in order with seq: user, assistant with tool_calls, tool with result, assistant', async () => {
    const s = await getSession(KEY_MSGS, id);
    assert.equal(s.id, id);
    assert.equal(s.title, 'What is 6*7?');
    assert.equal(s.message_count, 4);
    assert.equal(s.next_after, null);
    for (const m of s.messages) assert.ok(!Number.isNaN(Date.parse(m.created_at)));
    assert.deepEqual(
      s.messages.map(({ created_at: _, ...m }) => m),
      [
        { seq: 0, role: 'user', content: 'What is 6*7?' },
        { seq: 1, role: 'assistant', content: '', tool_calls: [{ id: 'call_calc', name: 'calculator', arguments: { expression: '6*7' } }] },
        { seq: 2, role: 'tool', tool_call_id: 'call_calc', name: 'calculator', result: { expression: '6*7', result: 42 } },
        { seq: 3, role: 'assistant', content: 'It is 42.' },
      ],
    );
  });

  test('pages with limit + after / next_after', async () => {
    const p1 = await getSession(KEY_MSGS, id, '?limit=2');
    assert.deepEqual(
      p1.messages.map((m) => m.seq),
      [0, 1],
    );
    assert.equal(p1.next_after, 1);
    assert.equal(p1.message_count, 4);
    const p2 = await getSession(KEY_MSGS, id, `?limit=2&after=${p1.next_after}`);
    assert.deepEqual(
      p2.messages.map((m) => m.seq),
      [2, 3],
    );
    assert.deepEqual(
      p2.messages.map((m) => m.role),
      ['tool', 'assistant'],
    );
    assert.equal(p2.next_after, 3);
    const p3 = await getSession(KEY_MSGS, id, `?limit=2&after=${p2.next_after}`);
    assert.deepEqual(p3.messages, []);
    assert.equal(p3.next_after, null);
    const rest = await getSession(KEY_MSGS, id, '?after=0');
    assert.deepEqual(
      rest.messages.map((m) => m.seq),
      [1, 2, 3],
    );
    assert.equal(rest.next_after, null);
  });

  test('an unknown id is 404 session_not_found; a malformed id is 400 naming the id', async () => {
    await expectError(await svc.request('/sessions/no-such-session', { key: KEY_MSGS }), 404, 'session_not_found');
    const e = await expectError(await svc.request('/sessions/bad$id', { key: KEY_MSGS }), 400, 'validation_error');
    assert.match(e.message, /params\.id/);
    const tooLong = await expectError(await svc.request(`/sessions/${'a'.repeat(129)}`, { key: KEY_MSGS }), 400, 'validation_error');
    assert.match(tooLong.message, /params\.id/);
    // Far beyond any valid id, and broken percent-encoding: still 400 in our shape.
    await expectError(await svc.request(`/sessions/${'a'.repeat(5000)}`, { key: KEY_MSGS }), 400, 'validation_error');
    await expectError(await svc.request('/sessions/%zz', { key: KEY_MSGS }), 400, 'validation_error');
  });
});

describe('DELETE /sessions/:id', () => {
  test('204, then the session is gone; chatting with the id again starts a fresh session', async () => {
    const id = await newSession(KEY_DEL, 'to be deleted');
    svc.fake.enqueue({ text: 'second turn' });
    await (await svc.chat({ message: 'more', session_id: id }, KEY_DEL)).arrayBuffer();
    assert.equal((await getSession(KEY_DEL, id)).message_count, 4);

    const del = await svc.request(`/sessions/${id}`, { method: 'DELETE', key: KEY_DEL });
    assert.equal(del.status, 204);
    assert.equal(await del.text(), '');

    await expectError(await svc.request(`/sessions/${id}`, { key: KEY_DEL }), 404, 'session_not_found');
    await expectError(await svc.request(`/sessions/${id}`, { method: 'DELETE', key: KEY_DEL }), 404, 'session_not_found');
    assert.ok(!(await listSessions(KEY_DEL)).sessions.some((s) => s.id === id));

    svc.fake.enqueue({ text: 'fresh start' });
    const res = await svc.chat({ message: 'new beginning', session_id: id }, KEY_DEL);
    const body = (await res.json()) as ChatJson;
    assert.equal(res.status, 200);
    assert.equal(body.session_id, id);
    // The model saw no history from the deleted session.
    assert.ok(!JSON.stringify(svc.fake.requests.at(-1)!.body.messages).includes('to be deleted'));

    const fresh = await getSession(KEY_DEL, id);
    assert.equal(fresh.message_count, 2);
    assert.equal(fresh.title, 'new beginning');
    assert.deepEqual(
      fresh.messages.map((m) => [m.seq, m.role, m['content']]),
      [
        [0, 'user', 'new beginning'],
        [1, 'assistant', 'fresh start'],
      ],
    );
  });

  test('DELETE while the session is answering is 409 session_busy: the run would go on writing under that id, into the session it names next', async () => {
    const n = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'A-private-reply', delayMs: 60 });
    const streaming = svc.stream({ message: 'A asks', session_id: 'del-busy' }, KEY_A);
    await svc.fake.waitForRequests(n + 1); // the run holds the session now
    const del = await svc.request('/sessions/del-busy', { method: 'DELETE', key: KEY_A });
    const text = await del.text();
    if (del.status === 204) {
      // What that allowed: the next message opens a new session with the id, and the old run's reply lands in it.
      svc.fake.enqueue({ text: 'next reply' });
      assert.equal((await svc.chat({ message: 'next', session_id: 'del-busy' }, KEY_A)).status, 200);
      await (await streaming).text();
      const messages = (await getSession(KEY_A, 'del-busy')).messages;
      assert.fail(`DELETE of a busy session answered 204; the new session then held ${JSON.stringify(messages.map((m) => m['content']))}`);
    }
    assert.equal(del.status, 409, text);
    assert.equal((JSON.parse(text) as ErrorJson).error.code, 'session_busy');
    const { events } = parseSse(await (await streaming).text());
    assert.equal(events.at(-1)?.data.type, 'end');
    const after = await svc.request('/sessions/del-busy', { method: 'DELETE', key: KEY_A });
    assert.equal(after.status, 204);
  });
});

describe('session_id validation', () => {
  const bad: Array<[string, string]> = [
    ['too long (129 chars)', 'a'.repeat(129)],
    ['a space', 'has space'],
    ['a slash', 'a/b'],
    ['non-ASCII', 'séssion'],
    ['empty', ''],
  ];
  for (const [what, sessionId] of bad) {
    test(`session_id with ${what} → 400 validation_error naming session_id (chat and stream)`, async () => {
      const modelCalls = svc.fake.requests.length;
      for (const res of [await svc.chat({ message: 'hi', session_id: sessionId }), await svc.stream({ message: 'hi', session_id: sessionId })]) {
        const e = await expectError(res, 400, 'validation_error');
        assert.match(e.message, /session_id/);
        const details = e.details as Array<{ field: string }>;
        assert.ok(Array.isArray(details) && details.some((d) => d.field === 'body.session_id'), JSON.stringify(e.details));
      }
      assert.equal(svc.fake.requests.length, modelCalls);
    });
  }

  test('wrong type (number) → 400 naming session_id', async () => {
    const e = await expectError(await svc.chat({ message: 'hi', session_id: 42 }), 400, 'validation_error');
    assert.match(e.message, /body\.session_id/);
  });

  test('a 128-character id of the allowed set works for chat, GET and DELETE', async () => {
    const id = `${'Az09._:-'.repeat(16)}`;
    assert.equal(id.length, 128);
    const res = await svc.chat({ message: 'hi', session_id: id });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as ChatJson).session_id, id);
    assert.equal((await getSession(KEY_A, id)).message_count, 2);
    const del = await svc.request(`/sessions/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    await expectError(await svc.request(`/sessions/${id}`), 404, 'session_not_found');
  });

  test('null session_id is accepted like an absent one: a new session each time', async () => {
    const a = await svc.chat({ message: 'hi', session_id: null });
    const b = await svc.chat({ message: 'hi' });
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const idA = ((await a.json()) as ChatJson).session_id;
    const idB = ((await b.json()) as ChatJson).session_id;
    assert.match(idA, /^[0-9a-f-]{36}$/);
    assert.notEqual(idA, idB);

    const s = await svc.stream({ message: 'hi', session_id: null });
    assert.equal(s.status, 200);
    const { events } = parseSse(await s.text());
    const start = events[0]?.data;
    assert.equal(start?.type, 'start');
    assert.ok(start?.type === 'start' && start.session_id !== idA && start.session_id !== idB);
    assert.equal(events.at(-1)?.data.type, 'end');
  });
});
