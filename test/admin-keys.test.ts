/**
 * Managed keys: ADMIN_API_KEY creates, lists and revokes keys at /admin/keys; a managed key works
 * on every route with its own sessions, usage, rate limit and token budget; a revoke holds on the
 * next request, on another service instance on the same Postgres too. The real service on the
 * fake LLM (inject(); Postgres for the two instances).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { AgentApiError, AgentClient } from '../src/client/index.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { KEY_A, startService, waitFor, type TestService } from './support/service.js';

const ADMIN = 'admin-key-0123456789abcdef';
const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

interface KeyJson {
  object: string;
  id: string;
  name: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  rate_limit_per_minute: number | null;
  token_budget: number | null;
  tokens_used: number;
  key?: string;
}
interface ErrorJson {
  error: { code: string; message: string; details?: Array<{ field: string; message: string }> };
}

async function createKey(svc: TestService, body: unknown): Promise<KeyJson & { key: string }> {
  const res = await svc.request('/admin/keys', { method: 'POST', key: ADMIN, json: body });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as KeyJson & { key: string };
}

describe('managed keys', () => {
  let svc: TestService;
  const settled = () => waitFor(() => svc.server.activeRuns === 0, 'the runs to end');

  before(async () => {
    svc = await startService({ transport: 'inject', env: { ADMIN_API_KEY: ADMIN } });
  });
  after(() => svc?.close());

  test('POST /admin/keys: 201 with the key shown once (aak_…), its id, name and limits; stored only as a hash', async () => {
    const created = await createKey(svc, { name: 'team a', rate_limit_per_minute: 100, token_budget: 1_000_000 });
    assert.match(created.key, /^aak_[A-Za-z0-9_-]{32}$/);
    assert.match(created.id, /^key_[0-9a-f]{32}$/);
    assert.deepEqual(
      { ...created, key: undefined, id: undefined, created_at: undefined },
      {
        object: 'api_key',
        key: undefined,
        id: undefined,
        created_at: undefined,
        name: 'team a',
        last_used_at: null,
        revoked_at: null,
        rate_limit_per_minute: 100,
        token_budget: 1_000_000,
        tokens_used: 0,
      },
    );
    const listed = await svc.request('/admin/keys', { key: ADMIN });
    assert.equal(listed.status, 200);
    const text = await listed.text();
    assert.ok(!text.includes(created.key), 'the key is never listed');
    assert.ok(!text.includes(sha256hex(created.key)), 'nor its hash');
    const list = JSON.parse(text) as { object: string; data: KeyJson[] };
    assert.equal(list.object, 'list');
    assert.ok(list.data.some((k) => k.id === created.id && k.name === 'team a'));
    assert.ok(list.data.every((k) => !('key' in k) && !('key_hash' in k)));
    const one = await svc.request(`/admin/keys/${created.id}`, { key: ADMIN });
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as KeyJson).id, created.id);
  });

  test('a managed key works on every route, with sessions and usage of its own; the admin sees it by key', async () => {
    const { key, id } = await createKey(svc, { name: 'chat user' });
    svc.fake.enqueue({ text: 'hi there', usage: { prompt_tokens: 40, completion_tokens: 4 } });
    const chat = await svc.chat({ message: 'hello' }, key);
    assert.equal(chat.status, 200);
    const { session_id } = (await chat.json()) as { session_id: string };
    await settled();

    assert.equal((await svc.request(`/sessions/${session_id}`, { key })).status, 200);
    assert.equal((await svc.request(`/sessions/${session_id}`, { key: KEY_A })).status, 404, "another key does not see the managed key's session");

    const usage = (await (await svc.request('/usage', { key })).json()) as {
      scope: string;
      total: { runs: number; input_tokens: number; total_tokens: number };
    };
    assert.equal(usage.scope, 'key');
    assert.deepEqual([usage.total.runs, usage.total.input_tokens, usage.total.total_tokens], [1, 40, 44]);

    const byKey = (await (await svc.request('/usage?group_by=key', { key: ADMIN })).json()) as { data: Array<{ group: string | null; runs: number }> };
    assert.deepEqual(byKey.data.find((r) => r.group === id)?.runs, 1);
    const filtered = (await (await svc.request(`/usage?key_id=${id}`, { key: ADMIN })).json()) as { total: { runs: number } };
    assert.equal(filtered.total.runs, 1);

    const record = (await (await svc.request(`/admin/keys/${id}`, { key: ADMIN })).json()) as KeyJson;
    assert.equal(record.tokens_used, 44);
    assert.ok(record.last_used_at !== null, 'last use recorded');
  });

  test('DELETE /admin/keys/{id} revokes at once: the next request is a 401; an unknown id is 404', async () => {
    const { key, id } = await createKey(svc, { name: 'short-lived' });
    assert.equal((await svc.request('/sessions', { key })).status, 200);
    const del = await svc.request(`/admin/keys/${id}`, { method: 'DELETE', key: ADMIN });
    assert.equal(del.status, 200);
    assert.ok(((await del.json()) as KeyJson).revoked_at !== null);
    const refused = await svc.request('/sessions', { key });
    assert.equal(refused.status, 401);
    const body = (await refused.json()) as ErrorJson;
    assert.equal(body.error.code, 'unauthorized');
    assert.match(body.error.message, /revoked/);
    const bearer = await svc.request('/sessions', { key: null, headers: { authorization: `Bearer ${key}` } });
    assert.equal(bearer.status, 401);
    const listed = (await (await svc.request('/admin/keys', { key: ADMIN })).json()) as { data: KeyJson[] };
    assert.ok(listed.data.find((k) => k.id === id)?.revoked_at, 'listed as revoked');

    const unknown = await svc.request('/admin/keys/key_nope', { method: 'DELETE', key: ADMIN });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as ErrorJson).error.code, 'key_not_found');
    assert.equal((await svc.request('/admin/keys/key_nope', { key: ADMIN })).status, 404);
  });

  test('a key over its token budget gets 429 budget_exceeded before any model call; reads still work', async () => {
    const { key } = await createKey(svc, { name: 'budget', token_budget: 50 });
    svc.fake.enqueue({ text: 'spent', usage: { prompt_tokens: 45, completion_tokens: 10 } });
    assert.equal((await svc.chat({ message: 'use it up' }, key)).status, 200, 'under the budget when it starts');
    await settled();
    const calls = svc.fake.requests.length;

    const refused = await svc.chat({ message: 'more' }, key);
    assert.equal(refused.status, 429);
    const body = (await refused.json()) as ErrorJson;
    assert.equal(body.error.code, 'budget_exceeded');
    assert.match(body.error.message, /55 of its budget of 50 tokens/);
    const stream = await svc.stream({ message: 'more' }, key);
    assert.equal(stream.status, 429);
    const openai = await svc.request('/v1/chat/completions', { method: 'POST', key, json: { model: 'agent', messages: [{ role: 'user', content: 'x' }] } });
    assert.equal(openai.status, 429);
    const oa = (await openai.json()) as { error: { code: string; type: string } };
    assert.deepEqual([oa.error.code, oa.error.type], ['budget_exceeded', 'insufficient_quota'], "our stable code, OpenAI's type for a used-up quota");
    assert.equal(svc.fake.requests.length, calls, 'the model was not called');

    assert.equal((await svc.request('/sessions', { key })).status, 200);
    assert.equal((await svc.request('/usage', { key })).status, 200);
  });

  test('PATCH /admin/keys/{id}: a raised budget lets the key run again; null clears it; fields left out stay; bad bodies 400', async () => {
    const { key, id } = await createKey(svc, { name: 'raise me', token_budget: 10, rate_limit_per_minute: 1000 });
    svc.fake.enqueue({ text: 'spent', usage: { prompt_tokens: 10, completion_tokens: 2 } });
    assert.equal((await svc.chat({ message: 'use it up' }, key)).status, 200);
    await settled();
    assert.equal((await svc.chat({ message: 'more' }, key)).status, 429, 'over the budget');

    const patch = (json: unknown, target = id) => svc.request(`/admin/keys/${target}`, { method: 'PATCH', key: ADMIN, json });
    const raised = await patch({ token_budget: 1000 });
    assert.equal(raised.status, 200);
    const record = (await raised.json()) as KeyJson;
    assert.deepEqual(
      [record.name, record.token_budget, record.rate_limit_per_minute, record.tokens_used],
      ['raise me', 1000, 1000, 12],
      'only the budget changed; the usage stays',
    );
    assert.ok(!('key' in record) && !('key_hash' in record));
    svc.fake.enqueue({ text: 'again' });
    assert.equal((await svc.chat({ message: 'more' }, key)).status, 200, 'the raised budget holds from the next request');
    await settled();

    const cleared = (await (await patch({ token_budget: null, name: 'renamed' })).json()) as KeyJson;
    assert.deepEqual([cleared.name, cleared.token_budget], ['renamed', null]);

    for (const [body, field] of [
      [{}, ''],
      [{ token_budget: 0 }, 'token_budget'],
      [{ name: '' }, 'name'],
      [{ colour: 'red' }, ''],
    ] as const) {
      const bad = await patch(body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      const err = (await bad.json()) as ErrorJson;
      assert.equal(err.error.code, 'validation_error');
      if (field)
        assert.ok(
          err.error.details?.some((d) => d.field.includes(field)),
          JSON.stringify(err),
        );
    }
    const unknown = await patch({ name: 'x' }, 'key_nope');
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as ErrorJson).error.code, 'key_not_found');
    assert.equal((await svc.request(`/admin/keys/${id}`, { method: 'PATCH', key, json: { token_budget: null } })).status, 403, 'not with the key itself');
  });

  test("a key's rate_limit_per_minute applies to it alone (the service has none)", async () => {
    const { key } = await createKey(svc, { name: 'slow', rate_limit_per_minute: 2 });
    assert.equal((await svc.request('/sessions', { key })).status, 200);
    assert.equal((await svc.request('/sessions', { key })).status, 200);
    const limited = await svc.request('/sessions', { key });
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as ErrorJson).error.code, 'rate_limited');
    for (let i = 0; i < 3; i++) assert.equal((await svc.request('/sessions', { key: KEY_A })).status, 200, 'other keys are not limited');
  });

  test('bad bodies are 400s naming the field', async () => {
    for (const [body, field] of [
      [{}, 'name'],
      [{ name: '  ' }, 'name'],
      [{ name: 'x', rate_limit_per_minute: 0 }, 'rate_limit_per_minute'],
      [{ name: 'x', token_budget: -5 }, 'token_budget'],
      [{ name: 'x', token_budget: 'lots' }, 'token_budget'],
    ] as const) {
      const res = await svc.request('/admin/keys', { method: 'POST', key: ADMIN, json: body });
      assert.equal(res.status, 400, JSON.stringify(body));
      const err = (await res.json()) as ErrorJson;
      assert.ok(
        err.error.details?.some((d) => d.field.endsWith(field)),
        `${JSON.stringify(body)} names ${field}: ${JSON.stringify(err.error.details)}`,
      );
    }
  });

  test('admin routes need the admin key: another key is 403 forbidden, no key 401; the admin key works on other routes', async () => {
    const other = await svc.request('/admin/keys', { key: KEY_A });
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as ErrorJson).error.code, 'forbidden');
    const { key } = await createKey(svc, { name: 'not admin' });
    assert.equal((await svc.request('/admin/keys', { method: 'POST', key, json: { name: 'mine' } })).status, 403);
    assert.equal((await svc.request('/admin/keys', { key: null })).status, 401);
    assert.equal((await svc.request('/sessions', { key: ADMIN })).status, 200);
  });
});

describe('managed keys without ADMIN_API_KEY', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ transport: 'inject' });
  });
  after(() => svc?.close());

  test('/admin/keys is 403 admin_disabled, saying which setting turns it on', async () => {
    const res = await svc.request('/admin/keys', { key: KEY_A });
    assert.equal(res.status, 403);
    const body = (await res.json()) as ErrorJson;
    assert.equal(body.error.code, 'admin_disabled');
    assert.match(body.error.message, /ADMIN_API_KEY/);
  });
});

describe('managed keys across service instances on one Postgres', () => {
  const envUrl = process.env['DATABASE_URL'];
  const adminUrl = envUrl && /^postgres(ql)?:\/\//.test(envUrl) ? envUrl : 'postgres://postgres@127.0.0.1:5432/test';
  const name = `agent_api_keys_${randomBytes(6).toString('hex')}`;
  let fake: FakeLlm;
  let one: TestService;
  let two: TestService;

  before(async () => {
    const client = new pg.Client({ connectionString: adminUrl });
    try {
      await client.connect();
    } catch (err) {
      throw new Error(`PostgreSQL is required for these tests (${adminUrl}): ${(err as Error).message}`, { cause: err });
    }
    await client.query(`CREATE DATABASE ${name}`);
    await client.end();
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    fake = await startFakeLlm();
    const env = { ADMIN_API_KEY: ADMIN, DATABASE_URL: url.toString() };
    one = await startService({ transport: 'inject', fake, env });
    two = await startService({ transport: 'inject', fake, env });
  });
  after(async () => {
    await one?.close();
    await two?.close();
    await fake?.close();
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await client.end();
  });

  test('a key made on one instance works on the other, and a revoke on one is refused by the other on its next request', async () => {
    const { key, id } = await createKey(one, { name: 'shared' });
    assert.equal((await two.request('/sessions', { key })).status, 200);
    fake.enqueue({ text: 'ok', usage: { prompt_tokens: 9, completion_tokens: 1 } });
    assert.equal((await two.chat({ message: 'hi' }, key)).status, 200);
    await waitFor(() => two.server.activeRuns === 0, 'the run to end');
    const seen = (await (await one.request(`/admin/keys/${id}`, { key: ADMIN })).json()) as KeyJson;
    assert.equal(seen.tokens_used, 10, 'usage recorded by one instance is seen by the other');

    assert.equal((await one.request(`/admin/keys/${id}`, { method: 'DELETE', key: ADMIN })).status, 200);
    assert.equal((await two.request('/sessions', { key })).status, 401);
    assert.equal((await one.request('/sessions', { key })).status, 401);
  });
});

describe('AgentClient: keys and usage', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ env: { ADMIN_API_KEY: ADMIN } });
  });
  after(() => svc?.close());

  test('the admin creates, lists, updates and revokes keys; a key reads its own usage; errors are typed', async () => {
    const admin = new AgentClient({ baseUrl: svc.url, apiKey: ADMIN });
    const created = await admin.keys.create({ name: 'from the client', token_budget: 500 });
    assert.match(created.key, /^aak_/);
    assert.ok((await admin.keys.list()).some((k) => k.id === created.id && !('key' in k)));

    const user = new AgentClient({ baseUrl: svc.url, apiKey: created.key });
    svc.fake.enqueue({ text: 'hello', usage: { prompt_tokens: 30, completion_tokens: 3 } });
    await user.chat('hi');
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    const mine = await user.usage({ groupBy: 'model' });
    assert.deepEqual([mine.scope, mine.total.total_tokens], ['key', 33]);
    await assert.rejects(user.keys.list(), (err: unknown) => err instanceof AgentApiError && err.status === 403 && err.code === 'forbidden');
    await assert.rejects(user.usage({ from: 'yesterday' }), (err: unknown) => err instanceof AgentApiError && err.status === 400);

    const updated = await admin.keys.update(created.id, { token_budget: null, rate_limit_per_minute: 100 });
    assert.deepEqual([updated.token_budget, updated.rate_limit_per_minute, updated.tokens_used], [null, 100, 33]);
    assert.equal((await admin.keys.get(created.id)).name, 'from the client');
    const all = await admin.usage({ groupBy: 'key', keyId: created.id });
    assert.equal(all.scope, 'all');
    assert.equal(all.total.runs, 1);

    assert.ok((await admin.keys.revoke(created.id)).revoked_at);
    await assert.rejects(user.sessions.list(), (err: unknown) => err instanceof AgentApiError && err.status === 401);
    await assert.rejects(admin.keys.get('key_nope'), (err: unknown) => err instanceof AgentApiError && err.status === 404 && err.code === 'key_not_found');
  });
});
