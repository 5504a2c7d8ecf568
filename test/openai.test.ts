/**
 * The OpenAI-compatible façade (/v1/models, /v1/chat/completions) driven by the official `openai`
 * SDK against the real service and the fake upstream: replies, streams, the agent's tool steps in
 * the extra fields, history from `messages`, stored sessions via X-Session-Id, typed errors, and
 * the client hanging up. Plus the README's curl examples, replayed with fetch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { FakeLlm, RecordedRequest } from './support/fake-llm.js';
import { KEY_A, KEY_B, startService, type TestService } from './support/service.js';

interface AgentToolCall {
  id: string;
  name: string;
  arguments: unknown;
  result: unknown;
}

function client(svc: TestService, apiKey = KEY_A): OpenAI {
  // maxRetries 0: the SDK would otherwise retry 409/429/5xx with backoff.
  return new OpenAI({ apiKey, baseURL: `${svc.url}/v1`, maxRetries: 0 });
}

/** The fake's latest request. */
function lastRequest(fake: FakeLlm): RecordedRequest {
  const req = fake.requests.at(-1);
  assert.ok(req, 'the fake received a request');
  return req;
}

/** The user/assistant messages of the fake's latest request (the agent's own system prompt left out). */
function lastSent(fake: FakeLlm): Array<{ role: string; content: string | null }> {
  return lastRequest(fake)
    .body.messages.filter((m) => m.role !== 'system')
    .map((m) => ({ role: m.role, content: m.content }));
}

async function rejectsWith<T extends new (...args: never[]) => Error>(p: Promise<unknown>, cls: T): Promise<InstanceType<T>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err as InstanceType<T>;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

describe('OpenAI-compatible API', () => {
  let svc: TestService;
  let openai: OpenAI;
  before(async () => {
    svc = await startService();
    openai = client(svc);
  });
  after(() => svc.close());

  test('GET /v1/models lists the agent (Bearer via the SDK; X-API-Key works too)', async () => {
    const page = await openai.models.list();
    assert.equal(page.data.length, 1);
    const [model] = page.data;
    assert.equal(model?.id, 'agent');
    assert.equal(model?.object, 'model');
    assert.equal(model?.owned_by, 'agent-api');
    assert.equal(typeof model?.created, 'number');
    const res = await svc.request('/v1/models');
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as { data: unknown[] }).data, page.data);
  });

  test('non-stream: content is the model text, usage present, no tool calls, nothing about sessions', async () => {
    svc.fake.enqueue({ text: 'Hello from the fake' });
    const completion = await openai.chat.completions.create({ model: 'agent', temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] });
    assert.match(completion.id, /^chatcmpl-/);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'agent');
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0]?.message.role, 'assistant');
    assert.equal(completion.choices[0]?.message.content, 'Hello from the fake');
    assert.equal(completion.choices[0]?.finish_reason, 'stop');
    // The fake reports 10 prompt tokens and one completion token per 4-character chunk.
    assert.deepEqual(completion.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
    const extra = completion as unknown as { agent_tool_calls: AgentToolCall[]; session_id?: string };
    assert.deepEqual(extra.agent_tool_calls, []);
    assert.equal(extra.session_id, undefined);
  });

  test('stream with include_usage: role first, deltas join to the text, stop, then a usage chunk', async () => {
    svc.fake.enqueue({ text: 'Streaming works fine' });
    const stream = await openai.chat.completions.create({
      model: 'agent',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'stream please' }],
    });
    let text = '';
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) {
      chunks.push(chunk);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    assert.equal(text, 'Streaming works fine');
    assert.deepEqual(chunks[0]?.choices[0]?.delta, { role: 'assistant', content: '' });
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]?.id));
    const finish = chunks.findIndex((c) => c.choices[0]?.finish_reason === 'stop');
    assert.ok(finish > 0);
    const usage = chunks.at(-1);
    assert.equal(finish, chunks.length - 2);
    assert.deepEqual(usage?.choices, []);
    assert.deepEqual(usage?.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
  });

  test('a tool round trip shows in agent_tool_calls (non-stream) and agent_event chunks (stream)', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_x', name: 'calculator', arguments: { expression: '6 * 7' } }] }, { text: 'It is 42.' });
    const completion = await openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: '6 times 7?' }] });
    assert.equal(completion.choices[0]?.message.content, 'It is 42.');
    const calls = (completion as unknown as { agent_tool_calls: AgentToolCall[] }).agent_tool_calls;
    assert.deepEqual(calls, [{ id: 'call_x', name: 'calculator', arguments: { expression: '6 * 7' }, result: { expression: '6 * 7', result: 42 } }]);

    svc.fake.enqueue({ toolCalls: [{ id: 'call_y', name: 'calculator', arguments: { expression: '2 + 2' } }] }, { text: 'Four.' });
    const stream = await openai.chat.completions.create({ model: 'agent', stream: true, messages: [{ role: 'user', content: '2 plus 2?' }] });
    const agentEvents: Array<{ type: string; id: string; name: string }> = [];
    let text = '';
    for await (const chunk of stream) {
      const raw = chunk as unknown as { agent_event?: { type: string; id: string; name: string } };
      if (raw.agent_event) {
        assert.deepEqual(chunk.choices[0]?.delta, {});
        assert.equal(chunk.choices[0]?.finish_reason, null);
        agentEvents.push(raw.agent_event);
      }
      text += chunk.choices[0]?.delta.content ?? '';
    }
    assert.equal(text, 'Four.');
    assert.deepEqual(
      agentEvents.map((e) => [e.type, e.id, e.name]),
      [
        ['tool_call', 'call_y', 'calculator'],
        ['tool_result', 'call_y', 'calculator'],
      ],
    );
  });

  test("the request's messages are the history: user/assistant turns reach the model, system ones do not", async () => {
    svc.fake.enqueue({ text: 'Your name is Ann.' });
    const completion = await openai.chat.completions.create({
      model: 'agent',
      messages: [
        { role: 'system', content: 'CLIENT SYSTEM PROMPT' },
        { role: 'user', content: 'My name is Ann.' },
        { role: 'assistant', content: 'Nice to meet you, Ann.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is ' },
            { type: 'text', text: 'my name?' },
          ],
        },
      ],
    });
    assert.equal(completion.model, 'agent');
    assert.equal(completion.choices[0]?.message.content, 'Your name is Ann.');
    assert.deepEqual(lastSent(svc.fake), [
      { role: 'user', content: 'My name is Ann.' },
      { role: 'assistant', content: 'Nice to meet you, Ann.' },
      { role: 'user', content: 'What is my name?' },
    ]);
    const system = lastRequest(svc.fake).body.messages.filter((m) => m.role === 'system');
    assert.ok(system.every((m) => !String(m.content).includes('CLIENT SYSTEM PROMPT')));
  });

  test('X-Session-Id continues a stored session; another key with that id has its own', async () => {
    const sessionId = `oa-${Date.now()}`;
    const headers = { 'X-Session-Id': sessionId };
    svc.fake.enqueue({ text: 'Noted, Bob.' });
    const first = await openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'I am Bob.' }] }, { headers });
    assert.equal((first as unknown as { session_id: string }).session_id, sessionId);

    svc.fake.enqueue({ text: 'You are Bob.' });
    const { data, response } = await openai.chat.completions
      .create(
        {
          model: 'agent',
          messages: [
            { role: 'user', content: 'IGNORED' },
            { role: 'user', content: 'Who am I?' },
          ],
        },
        { headers },
      )
      .withResponse();
    assert.equal(response.headers.get('x-session-id'), sessionId);
    assert.equal(data.choices[0]?.message.content, 'You are Bob.');
    // Stored history, not the request's earlier messages.
    assert.deepEqual(lastSent(svc.fake), [
      { role: 'user', content: 'I am Bob.' },
      { role: 'assistant', content: 'Noted, Bob.' },
      { role: 'user', content: 'Who am I?' },
    ]);

    // The body field works as well, and streams announce the session on their first chunk.
    svc.fake.enqueue({ text: 'Still Bob.' });
    const stream = await openai.chat.completions.create({
      model: 'agent',
      stream: true,
      messages: [{ role: 'user', content: 'Again?' }],
      session_id: sessionId,
    } as OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming);
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    assert.equal((chunks[0] as unknown as { session_id?: string }).session_id, sessionId);
    assert.equal(lastSent(svc.fake).length, 5);

    // Another key with the same X-Session-Id has a session of its own: nothing of Bob's.
    svc.fake.enqueue({ text: 'I do not know.' });
    await client(svc, KEY_B).chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'Who is Bob?' }] }, { headers });
    assert.deepEqual(lastSent(svc.fake), [{ role: 'user', content: 'Who is Bob?' }]);
  });

  test('typed errors: bad key → AuthenticationError, bad bodies → BadRequestError naming the param', async () => {
    const auth = await rejectsWith(
      client(svc, 'not-a-key').chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'hi' }] }),
      OpenAI.AuthenticationError,
    );
    assert.equal(auth.status, 401);
    assert.equal(auth.code, 'invalid_api_key');
    assert.equal(auth.type, 'invalid_request_error');
    assert.ok(auth.requestID);
    await rejectsWith(client(svc, 'not-a-key').models.list(), OpenAI.AuthenticationError);

    const empty = await rejectsWith(openai.chat.completions.create({ model: 'agent', messages: [] }), OpenAI.BadRequestError);
    assert.equal(empty.status, 400);
    assert.equal(empty.code, 'invalid_request_error');
    assert.equal(empty.param, 'messages');
    assert.match(empty.message, /messages/);

    const lastAssistant = await rejectsWith(
      openai.chat.completions.create({ model: 'agent', messages: [{ role: 'assistant', content: 'hm' }] }),
      OpenAI.BadRequestError,
    );
    assert.equal(lastAssistant.param, 'messages[0].role');

    const noModel = await rejectsWith(openai.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] } as never), OpenAI.BadRequestError);
    assert.equal(noModel.param, 'model');

    // Raw: the OpenAI shape, also for an unknown method on an OpenAI path.
    const res = await svc.request('/v1/chat/completions', { method: 'GET' });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
  });

  test('a mid-stream upstream failure ends the stream with an error chunk the SDK raises', async () => {
    svc.fake.enqueue({ resetAfter: 2, text: 'partial answer that breaks' });
    const stream = await openai.chat.completions.create({ model: 'agent', stream: true, messages: [{ role: 'user', content: 'break' }] });
    let text = '';
    const err = await rejectsWith(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
      })(),
      OpenAI.APIError,
    );
    assert.equal(text, 'partial ');
    assert.equal(err.type, 'server_error');
    assert.equal(err.code, 'upstream_error');
  });

  test('aborting mid-stream hangs up on the model', async () => {
    svc.fake.enqueue({ text: 'one two three four five six seven eight nine ten', delayMs: 100 });
    const ac = new AbortController();
    const stream = await openai.chat.completions.create(
      { model: 'agent', stream: true, messages: [{ role: 'user', content: 'count' }] },
      { signal: ac.signal },
    );
    const received: string[] = [];
    try {
      for await (const chunk of stream) {
        const content = chunk.choices[0]?.delta.content;
        if (content) {
          received.push(content);
          ac.abort();
        }
      }
    } catch (err) {
      assert.ok(err instanceof OpenAI.APIUserAbortError, String(err));
    }
    assert.deepEqual(received, ['one ']);
    await svc.fake.waitForAbort();
  });

  test("the README's curl examples (Authorization: Bearer)", async () => {
    const headers = { authorization: `Bearer ${KEY_A}`, 'content-type': 'application/json' };
    svc.fake.enqueue({ toolCalls: [{ id: 'call_r', name: 'calculator', arguments: { expression: '12.5 * 4' } }] }, { text: 'It is 50.' });
    const res = await fetch(`${svc.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'agent', messages: [{ role: 'user', content: 'What is 12.5 * 4?' }] }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { choices: Array<{ message: { content: string } }>; agent_tool_calls: AgentToolCall[] };
    assert.equal(body.choices[0]?.message.content, 'It is 50.');
    assert.equal(body.agent_tool_calls[0]?.name, 'calculator');

    svc.fake.enqueue({ text: 'Hello!' });
    const streamed = await fetch(`${svc.url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'agent', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Say hello' }] }),
    });
    assert.equal(streamed.status, 200);
    assert.match(streamed.headers.get('content-type') ?? '', /^text\/event-stream/);
    const blocks = (await streamed.text()).split('\n\n').filter(Boolean);
    assert.ok(blocks.every((b) => b.startsWith('data: ')));
    assert.equal(blocks.at(-1), 'data: [DONE]');
    const chunks = blocks
      .slice(0, -1)
      .map((b) => JSON.parse(b.slice(6)) as { choices: Array<{ delta: { content?: string }; finish_reason: string | null }>; usage?: unknown });
    assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'Hello!');
    assert.equal(chunks.at(-2)?.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1)?.usage, { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 });
  });
});

describe('OpenAI-compatible API: service-level errors', () => {
  test('no model configured → InternalServerError (503)', async () => {
    const svc = await startService({ noModel: true });
    try {
      const err = await rejectsWith(
        client(svc).chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'hi' }] }),
        OpenAI.InternalServerError,
      );
      assert.equal(err.status, 503);
      assert.equal(err.type, 'server_error');
      assert.equal(err.code, 'model_not_configured');
    } finally {
      await svc.close();
    }
  });

  test('over the rate limit → RateLimitError (429)', async () => {
    const svc = await startService({ env: { RATE_LIMIT_PER_MINUTE: '2' } });
    try {
      const openai = client(svc);
      await openai.models.list();
      await openai.models.list();
      const err = await rejectsWith(openai.models.list(), OpenAI.RateLimitError);
      assert.equal(err.status, 429);
      assert.equal(err.type, 'rate_limit_error');
      assert.equal(err.code, 'rate_limit_exceeded');
    } finally {
      await svc.close();
    }
  });
});
