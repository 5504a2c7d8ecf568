/**
 * Several agents per server: from AGENTS_FILE and from code. Each agent's own model name and
 * instructions reach the fake model; `agent` on the native routes picks one; a session keeps its
 * agent; /v1/models and /ready list them all.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createAgent } from '../src/agent/agent.js';
import { createChatModel } from '../src/agent/chat-model.js';
import { createAgentServer } from '../src/server.js';
import { loadConfig } from '../src/config.js';
import type { RecordedRequest } from './support/fake-llm.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { parseSse, startService, type TestService } from './support/service.js';

const AGENTS = {
  default: 'support',
  agents: {
    support: { instructions: 'You are a support agent.', tools: ['current_time'] },
    math: { instructions: 'You solve arithmetic.', tools: ['calculator'], model: 'math-model', max_steps: 4 },
  },
};

interface ErrorReply {
  error: { code: string; message: string; details?: unknown };
}

/** What the fake model got in its latest request: the model name, the system prompt, the tools offered. */
function lastCall(fake: FakeLlm): { model: string | undefined; system: string; tools: string[] } {
  const req: RecordedRequest | undefined = fake.requests.at(-1);
  assert.ok(req, 'the fake received a request');
  return {
    model: req.body.model,
    system: req.body.messages.find((m) => m.role === 'system')?.content ?? '',
    tools: (req.body.tools ?? []).map((t) => t.function.name).sort(),
  };
}

describe('AGENTS_FILE: two agents on one server', () => {
  let svc: TestService;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'agents-file-'));
    writeFileSync(join(dir, 'agents.json'), JSON.stringify(AGENTS));
    svc = await startService({ env: { AGENTS_FILE: join(dir, 'agents.json') } });
  });
  after(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/v1/models lists both agents', async () => {
    const res = await svc.request('/v1/models');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { data: Array<{ id: string }> };
    assert.deepEqual(
      body.data.map((m) => m.id),
      ['support', 'math'],
    );
  });

  test('no `agent`: the default agent answers, with its model (LLM_MODEL), instructions and tools', async () => {
    svc.fake.enqueue({ text: 'support here' });
    const res = await svc.chat({ message: 'hello' });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { reply: string }).reply, 'support here');
    const call = lastCall(svc.fake);
    assert.equal(call.model, 'fake-model');
    assert.match(call.system, /You are a support agent\./);
    assert.deepEqual(call.tools, ['current_time']);
  });

  test('`model` picks the agent on /v1/chat/completions and /v1/responses; a response read back names the agent that answered', async () => {
    svc.fake.enqueue({ text: 'chat math' });
    const chat = await svc.request('/v1/chat/completions', { method: 'POST', json: { model: 'math', messages: [{ role: 'user', content: '1+1?' }] } });
    assert.equal(chat.status, 200);
    assert.equal(lastCall(svc.fake).model, 'math-model');

    svc.fake.enqueue({ text: 'responses math' });
    const created = await svc.request('/v1/responses', { method: 'POST', json: { model: 'math', input: '2+2?' } });
    assert.equal(created.status, 200);
    const response = (await created.json()) as { id: string; model: string };
    assert.equal(response.model, 'math');
    assert.equal(lastCall(svc.fake).model, 'math-model');
    const again = await svc.request(`/v1/responses/${response.id}`);
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { model: string }).model, 'math');

    const unknown = await svc.request('/v1/responses', { method: 'POST', json: { model: 'physics', input: 'hi' } });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'model_not_found');
  });

  test('`agent: "math"` on /chat picks the other agent: its own model name, instructions and tools', async () => {
    svc.fake.enqueue({ text: '4' });
    const res = await svc.chat({ message: '2+2?', agent: 'math' });
    assert.equal(res.status, 200);
    const call = lastCall(svc.fake);
    assert.equal(call.model, 'math-model');
    assert.match(call.system, /You solve arithmetic\./);
    assert.doesNotMatch(call.system, /support agent/);
    assert.deepEqual(call.tools, ['calculator']);
  });

  test('`agent` on /chat/stream and POST /runs picks too', async () => {
    svc.fake.enqueue({ text: 'streamed' });
    const res = await svc.stream({ message: 'hi', agent: 'math' });
    assert.equal(res.status, 200);
    const { events } = parseSse(await res.text());
    assert.equal(events.at(-1)?.data.type, 'end');
    assert.equal(lastCall(svc.fake).model, 'math-model');

    svc.fake.enqueue({ text: 'in the background' });
    const started = await svc.request('/runs', { method: 'POST', json: { message: 'hi', agent: 'math' } });
    assert.equal(started.status, 202);
    const { run_id } = (await started.json()) as { run_id: string };
    const follow = await svc.request(`/runs/${run_id}/events`);
    await follow.text();
    assert.equal(lastCall(svc.fake).model, 'math-model');
  });

  test('an unknown agent is 404 model_not_found, naming it and the agents served; a malformed name is a 400 naming `agent`', async () => {
    const before = svc.fake.requests.length;
    const res = await svc.chat({ message: 'hi', agent: 'physics' });
    assert.equal(res.status, 404);
    const body = (await res.json()) as ErrorReply;
    assert.equal(body.error.code, 'model_not_found');
    assert.match(body.error.message, /'physics'/);
    assert.match(body.error.message, /support, math/);
    const bad = await svc.chat({ message: 'hi', agent: 'no spaces please' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as ErrorReply).error.message, /agent/);
    assert.equal(svc.fake.requests.length, before, 'the model was not called');
  });

  test('a session remembers its agent: later turns get it without naming it, another agent is 409 session_agent_mismatch', async () => {
    svc.fake.enqueue({ text: 'first' }, { text: 'second' });
    const first = (await (await svc.chat({ message: 'start', agent: 'math' })).json()) as { session_id: string };
    const sid = first.session_id;
    const second = await svc.chat({ message: 'go on', session_id: sid });
    assert.equal(second.status, 200);
    assert.equal(lastCall(svc.fake).model, 'math-model', 'the session kept its agent');

    const calls = svc.fake.requests.length;
    const other = await svc.chat({ message: 'switch', session_id: sid, agent: 'support' });
    assert.equal(other.status, 409);
    const err = (await other.json()) as ErrorReply;
    assert.equal(err.error.code, 'session_agent_mismatch');
    assert.match(err.error.message, /'math'/);
    assert.match(err.error.message, /'support'/);
    assert.deepEqual(err.error.details, { session_agent: 'math', agent: 'support' });
    const stream = await svc.stream({ message: 'switch', session_id: sid, agent: 'support' });
    assert.equal(stream.status, 409);
    assert.equal(svc.fake.requests.length, calls, 'the model was not called');

    const detail = (await (await svc.request(`/sessions/${sid}`)).json()) as { agent: string | null; message_count: number };
    assert.equal(detail.agent, 'math');
    assert.equal(detail.message_count, 4, 'the refused turn stored nothing');
    const list = (await (await svc.request('/sessions')).json()) as { sessions: Array<{ id: string; agent: string | null }> };
    assert.equal(list.sessions.find((s) => s.id === sid)?.agent, 'math');

    // A new session for the default agent records it by name.
    svc.fake.enqueue({ text: 'hi' });
    const plain = (await (await svc.chat({ message: 'plain' })).json()) as { session_id: string };
    const plainDetail = (await (await svc.request(`/sessions/${plain.session_id}`)).json()) as { agent: string | null };
    assert.equal(plainDetail.agent, 'support');
  });

  test('/ready reports each agent with its model', async () => {
    const res = await svc.request('/ready', { key: null });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; agents: unknown };
    assert.equal(body.status, 'ready');
    assert.deepEqual(body.agents, [
      { name: 'support', model: 'fake-model', default: true, ready: true },
      { name: 'math', model: 'math-model', default: false, ready: true },
    ]);
  });
});

describe('AGENTS_FILE: an agent without a model', () => {
  test('/ready is 503 and reports which agent is not ready and why; the other still answers, in its sessions too', async () => {
    const fake = await startFakeLlm();
    const dir = mkdtempSync(join(tmpdir(), 'agents-file-'));
    writeFileSync(join(dir, 'agents.json'), JSON.stringify({ default: 'unnamed', agents: { named: { model: 'named-model' }, unnamed: {} } }));
    // LLM_BASE_URL but no LLM_MODEL: only the agent that names its model has one.
    const svc = await startService({ fake, noModel: true, env: { AGENTS_FILE: join(dir, 'agents.json'), LLM_BASE_URL: fake.url } });
    try {
      const res = await svc.request('/ready', { key: null });
      assert.equal(res.status, 503);
      const body = (await res.json()) as ErrorReply & { error: { details: { agents: Array<{ name: string; ready: boolean; reason?: string }> } } };
      assert.equal(body.error.code, 'not_ready');
      assert.match(body.error.message, /agent unnamed: model: .*LLM_MODEL/);
      const byName = Object.fromEntries(body.error.details.agents.map((a) => [a.name, a]));
      assert.equal(byName['named']?.ready, true);
      assert.equal(byName['unnamed']?.ready, false);
      assert.match(byName['unnamed']?.reason ?? '', /LLM_MODEL/);

      assert.equal((await svc.chat({ message: 'hi' })).status, 503, 'the default agent has no model');
      fake.enqueue({ text: 'ok' }, { text: 'again' });
      const first = await svc.chat({ message: 'hi', agent: 'named' });
      assert.equal(first.status, 200);
      assert.equal(fake.requests.at(-1)?.body.model, 'named-model');
      const { session_id } = (await first.json()) as { session_id: string };
      const next = await svc.chat({ message: 'more', session_id });
      assert.equal(next.status, 200, "a session of the agent that has a model goes on without naming it, whatever the default's state");
      assert.equal(fake.requests.at(-1)?.body.model, 'named-model');
      const fresh = `new-${Date.now()}`;
      assert.equal((await svc.chat({ message: 'hi', session_id: fresh })).status, 503);
      assert.equal((await svc.request(`/sessions/${fresh}`)).status, 404, 'a refused turn leaves no session behind');
    } finally {
      await svc.close();
      await fake.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('createAgentServer({ agents, defaultAgent })', () => {
  test('serves the agents given in code, the default one for requests that name none', async () => {
    const fake = await startFakeLlm();
    const agent = (model: string, instructions: string) =>
      createAgent({ model: createChatModel({ baseURL: fake.url, model }), instructions, maxRetries: 0, tools: {} });
    const svc = await startService({
      fake,
      agents: { support: agent('support-model', 'Support.'), math: agent('math-model', 'Math.') },
      defaultAgent: 'math',
    });
    try {
      const models = (await (await svc.request('/v1/models')).json()) as { data: Array<{ id: string }> };
      assert.deepEqual(
        models.data.map((m) => m.id),
        ['math', 'support'],
        'the default agent first',
      );
      fake.enqueue({ text: 'a' }, { text: 'b' });
      await svc.chat({ message: 'hi' });
      assert.deepEqual([lastCall(fake).model, lastCall(fake).system], ['math-model', 'Math.']);
      await svc.chat({ message: 'hi', agent: 'support' });
      assert.deepEqual([lastCall(fake).model, lastCall(fake).system], ['support-model', 'Support.']);
    } finally {
      await svc.close();
      await fake.close();
    }
  });

  test('refuses an unknown default, a bad agent name, and both `agent` and `agents`', async () => {
    const config = loadConfig({ DATABASE_URL: 'sqlite::memory:', VALID_API_KEYS: 'k' });
    const a = createAgent({});
    await assert.rejects(createAgentServer({ config, agents: { a }, defaultAgent: 'b' }), /default agent 'b'/);
    await assert.rejects(createAgentServer({ config, agents: { 'a b': a } }), /agent name 'a b'/);
    await assert.rejects(createAgentServer({ config, agent: a, agents: { a } }), /not both/);
  });
});
