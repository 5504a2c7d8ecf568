/**
 * The usage ledger over HTTP: every run's tokens recorded with its key, session, agent and model;
 * `GET /usage` answers for the calling key only, the admin for every key; bad parameters are 400s
 * naming them. The real service on the fake LLM, through inject().
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { KEY_A, KEY_B, startService, waitFor, type TestService } from './support/service.js';

const sha256hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

const ADMIN = 'admin-key-0123456789abcdef';

interface UsageJson {
  object: string;
  from: string;
  to: string;
  group_by: string;
  scope: string;
  data: Array<{ group: string | null; runs: number; input_tokens: number; output_tokens: number; total_tokens: number }>;
  has_more: boolean;
  total: { runs: number; input_tokens: number; output_tokens: number; total_tokens: number };
}
interface ErrorJson {
  error: { code: string; message: string; details?: Array<{ field: string; message: string }> };
}

describe('usage ledger', () => {
  let svc: TestService;
  /** The ledger is written once the run's end is out: every run of this process has ended, so it is in. */
  const settled = () => waitFor(() => svc.server.activeRuns === 0, 'the runs to end');
  const usage = async (query: string, key = KEY_A) => {
    const res = await svc.request(`/usage${query}`, { key });
    return { status: res.status, body: (await res.json()) as UsageJson & ErrorJson };
  };

  before(async () => {
    svc = await startService({ transport: 'inject', env: { ADMIN_API_KEY: ADMIN } });
  });
  after(() => svc?.close());

  test('a new key has used nothing: zero totals, no groups, the last 30 days by day', async () => {
    const { status, body } = await usage('', KEY_B);
    assert.equal(status, 200);
    assert.equal(body.object, 'usage');
    assert.equal(body.group_by, 'day');
    assert.equal(body.scope, 'key');
    assert.deepEqual(body.data, []);
    assert.deepEqual(body.total, { runs: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0 });
    const span = Date.parse(body.to) - Date.parse(body.from);
    assert.equal(span, 30 * 24 * 3600_000);
  });

  test('runs are recorded with their tokens, session and model; each key sees only its own; the admin sees all', async () => {
    svc.fake.enqueue({ text: 'one', usage: { prompt_tokens: 100, completion_tokens: 7 } });
    const first = (await (await svc.chat({ message: 'hello' })).json()) as { session_id: string; usage: { input_tokens: number } };
    assert.equal(first.usage.input_tokens, 100);
    svc.fake.enqueue({ text: 'two', usage: { prompt_tokens: 120, completion_tokens: 5 } });
    assert.equal((await svc.chat({ message: 'again', session_id: first.session_id })).status, 200);
    svc.fake.enqueue({ text: 'other', usage: { prompt_tokens: 50, completion_tokens: 3 } });
    assert.equal((await svc.chat({ message: 'from b' }, KEY_B)).status, 200);
    await settled();

    const byDay = await usage('?group_by=day');
    assert.equal(byDay.status, 200);
    const today = new Date().toISOString().slice(0, 10);
    assert.deepEqual(byDay.body.data, [{ group: today, runs: 2, input_tokens: 220, output_tokens: 12, total_tokens: 232 }]);
    assert.deepEqual(byDay.body.total, { runs: 2, input_tokens: 220, output_tokens: 12, total_tokens: 232 });

    const bySession = await usage('?group_by=session');
    assert.deepEqual(bySession.body.data, [{ group: first.session_id, runs: 2, input_tokens: 220, output_tokens: 12, total_tokens: 232 }]);
    const byModel = await usage('?group_by=model');
    assert.deepEqual(
      byModel.body.data.map((r) => [r.group, r.runs]),
      [['fake-model', 2]],
    );
    const byAgent = await usage('?group_by=agent');
    assert.deepEqual(
      byAgent.body.data.map((r) => [r.group, r.runs]),
      [['agent', 2]],
    );

    const b = await usage('', KEY_B);
    assert.deepEqual(b.body.total, { runs: 1, input_tokens: 50, output_tokens: 3, total_tokens: 53 });

    const all = await usage('', ADMIN);
    assert.equal(all.body.scope, 'all');
    assert.deepEqual(all.body.total, { runs: 3, input_tokens: 270, output_tokens: 15, total_tokens: 285 });
    const byKey = await usage('?group_by=key', ADMIN);
    assert.deepEqual(
      byKey.body.data.map((r) => [r.group, r.runs]),
      [
        [`env:${sha256hex(KEY_A).slice(0, 12)}`, 2],
        [`env:${sha256hex(KEY_B).slice(0, 12)}`, 1],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      'keys from VALID_API_KEYS: no managed id, told apart by the start of their hash',
    );
  });

  test('a failed run is recorded too, with the tokens its model calls used', async () => {
    const before = (await usage('', KEY_B)).body.total;
    svc.fake.enqueue(
      { toolCalls: [{ name: 'calculator', arguments: { expression: '2+2' } }] },
      { error: { status: 400, body: { error: { message: 'bad' } } } },
    );
    const res = await svc.chat({ message: 'compute' }, KEY_B);
    assert.notEqual(res.status, 200);
    await settled();
    const now = (await usage('', KEY_B)).body.total;
    assert.equal(now.runs, before.runs + 1);
    assert.ok(now.input_tokens > before.input_tokens, 'the first model call (the tool call) used tokens, recorded though the run failed');
  });

  test('a run without a stored session (/v1/chat/completions) is recorded with no session', async () => {
    svc.fake.enqueue({ text: 'stateless', usage: { prompt_tokens: 11, completion_tokens: 2 } });
    const res = await svc.request('/v1/chat/completions', {
      method: 'POST',
      key: KEY_B,
      json: { model: 'agent', messages: [{ role: 'user', content: 'hi' }] },
    });
    assert.equal(res.status, 200);
    await settled();
    const bySession = await usage('?group_by=session', KEY_B);
    const none = bySession.body.data.find((r) => r.group === null);
    assert.ok(none, 'a group of runs without a session');
    assert.equal(none.input_tokens, 11);
  });

  test('from and to: dates include the whole day, times are exact, and the window excludes other runs', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const day = await usage(`?from=${today}&to=${today}`);
    assert.equal(day.status, 200);
    assert.equal(day.body.from, `${today}T00:00:00.000Z`);
    assert.equal(Date.parse(day.body.to) - Date.parse(day.body.from), 24 * 3600_000);
    assert.equal(day.body.total.runs, 2);
    const past = await usage('?from=2020-01-01&to=2020-01-31T23:00:00%2B02:00');
    assert.equal(past.status, 200);
    assert.equal(past.body.to, '2020-01-31T21:00:00.000Z');
    assert.equal(past.body.total.runs, 0);
    const blank = await usage('?from=&to=&group_by=day');
    assert.equal(blank.status, 200, 'empty from= and to= are the defaults');
    assert.equal(Date.parse(blank.body.to) - Date.parse(blank.body.from), 30 * 24 * 3600_000);
    assert.equal(blank.body.total.runs, 2);
  });

  test('limit lists the first groups and says there are more; the total counts them all', async () => {
    const { body } = await usage('?group_by=session&limit=1', KEY_B);
    assert.equal(body.data.length, 1);
    assert.equal(body.has_more, true);
    assert.ok(body.total.runs >= 3);
  });

  test('bad parameters are 400s naming the field', async () => {
    for (const [query, field] of [
      ['?from=yesterday', 'from'],
      ['?to=2026-13-45', 'to'],
      ['?from=2026-01-01T00:00:00', 'from'],
      ['?group_by=week', 'group_by'],
      ['?limit=0', 'limit'],
      ['?from=2026-02-01&to=2026-01-01', 'from'],
    ] as const) {
      const { status, body } = await usage(query);
      assert.equal(status, 400, query);
      assert.equal(body.error.code, 'validation_error', query);
      assert.ok(
        body.error.details?.some((d) => d.field.endsWith(field)),
        `${query}: names ${field} (${JSON.stringify(body.error.details)})`,
      );
    }
  });

  test('key_id and group_by=key are for the admin only (403 forbidden); no key is a 401', async () => {
    assert.equal((await usage('?group_by=key')).body.error.code, 'forbidden');
    const { status, body } = await usage('?key_id=key_x');
    assert.equal(status, 403);
    assert.match(body.error.message, /key_id/);
    assert.equal((await svc.request('/usage', { key: null })).status, 401);
  });
});
