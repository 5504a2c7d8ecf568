/**
 * POST /chat against the real service (through Fastify's inject(): nothing here needs a socket),
 * wired to the fake OpenAI-compatible server. Covers the reply shape, the tool loop, history and its window, step limits, upstream
 * failures and what the session keeps of them, the unconfigured service, custom agents and
 * persistence across a restart.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { tool } from 'ai';
import { z } from 'zod';
import { DEFAULT_INSTRUCTIONS } from '../src/agent/agent.js';
import { startFakeLlm, type FakeLlm, type WireMessage } from './support/fake-llm.js';
import { fakeModelAgent, KEY_B, startService, type TestService } from './support/service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const INSTRUCTIONS = 'You are the test agent. Be brief.';

interface ChatBody {
  reply: string;
  session_id: string;
  run_id: string;
  tool_calls: Array<{ id: string; name: string; arguments: unknown; result: unknown }>;
  usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  finish_reason: string;
}
interface ErrorBody {
  error: { code: string; message: string; request_id: string; details?: unknown };
}
interface StoredMessage {
  seq: number;
  role: 'user' | 'assistant' | 'tool';
  content?: string;
  tool_calls?: Array<{ id: string; name: string; arguments: unknown }>;
  tool_call_id?: string;
  name?: string;
  result?: unknown;
  interrupted?: boolean;
}
interface SessionBody {
  id: string;
  message_count: number;
  messages: StoredMessage[];
}

async function okChat(svc: TestService, body: unknown): Promise<ChatBody> {
  const res = await svc.chat(body);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as ChatBody;
}

async function errorOf(res: Response, status: number, code: string): Promise<{ body: ErrorBody; text: string }> {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as ErrorBody;
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(body.error.request_id, res.headers.get('x-request-id'));
  return { body, text };
}

async function getSession(svc: TestService, id: string): Promise<SessionBody> {
  const res = await svc.request(`/sessions/${encodeURIComponent(id)}`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text) as SessionBody;
}

/** The messages of the fake's request number `i` (0-based, over the fake's life). */
function sentMessages(fake: FakeLlm, i: number): WireMessage[] {
  const req = fake.requests[i];
  assert.ok(req, `the fake received request #${i}`);
  return req.body.messages;
}

const brief = (m: WireMessage) => ({ role: m.role, content: m.content });

/** A port nothing listens on: bind an ephemeral port, then release it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  return port;
}

/** Runs `fn` with console.error/warn/log captured, returning what was written. */
async function captureConsole<T>(fn: () => Promise<T>): Promise<{ value: T; output: string }> {
  const lines: string[] = [];
  const saved = { error: console.error, warn: console.warn, log: console.log };
  const grab = (...args: unknown[]) => {
    lines.push(args.map((a) => (a instanceof Error ? `${a.stack} ${JSON.stringify(a)}` : typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  };
  console.error = grab;
  console.warn = grab;
  console.log = grab;
  try {
    const value = await fn();
    return { value, output: lines.join('\n') };
  } finally {
    Object.assign(console, saved);
  }
}

describe('POST /chat on a configured service', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ env: { AGENT_INSTRUCTIONS: INSTRUCTIONS }, transport: 'inject' });
  });
  after(() => svc.close());

  test('answers 200 with reply, a new UUID session id, tool_calls and usage', async () => {
    svc.fake.enqueue({ text: 'Hi there' });
    const res = await svc.chat({ message: 'hello' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.ok(res.headers.get('x-request-id'));
    const body = (await res.json()) as ChatBody;
    assert.deepEqual(Object.keys(body).sort(), ['finish_reason', 'reply', 'run_id', 'session_id', 'tool_calls', 'usage']);
    assert.equal(body.finish_reason, 'stop');
    assert.match(body.run_id, /^run_[0-9a-f]{32}$/);
    assert.equal(body.reply, 'Hi there');
    assert.match(body.session_id, UUID);
    assert.deepEqual(body.tool_calls, []);
    // The fake reports 10 prompt tokens and one completion token per chunk ('Hi t' 'here').
    assert.deepEqual(body.usage, { input_tokens: 10, output_tokens: 2, total_tokens: 12 });
  });

  test('two new sessions get different ids; null session_id also starts one', async () => {
    const a = await okChat(svc, { message: 'one' });
    const b = await okChat(svc, { message: 'two', session_id: null });
    assert.match(a.session_id, UUID);
    assert.match(b.session_id, UUID);
    assert.notEqual(a.session_id, b.session_id);
  });

  test('a given session_id is used', async () => {
    const id = `my-session.${Date.now()}:1`;
    svc.fake.enqueue({ text: 'Noted' });
    const body = await okChat(svc, { message: 'remember me', session_id: id });
    assert.equal(body.session_id, id);
    const session = await getSession(svc, id);
    assert.equal(session.id, id);
    assert.deepEqual(
      session.messages.map((m) => [m.role, m.content]),
      [
        ['user', 'remember me'],
        ['assistant', 'Noted'],
      ],
    );
  });

  test('another key using the same session id gets a session of its own; the first is left untouched', async () => {
    const id = `owned-${Date.now()}`;
    svc.fake.enqueue({ text: 'mine' });
    await okChat(svc, { message: 'private', session_id: id });
    svc.fake.enqueue({ text: 'theirs' });
    const res = await svc.chat({ message: 'let me in', session_id: id }, KEY_B);
    assert.equal(res.status, 200, await res.clone().text());
    assert.ok(!JSON.stringify(svc.fake.requests.at(-1)).includes('private'), "the model saw nothing of the first key's session");
    assert.deepEqual(
      (await getSession(svc, id)).messages.map((m) => m['content']),
      ['private', 'mine'],
    );
  });

  test('calculator round trip: the tool result is returned and sent back to the model', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ toolCalls: [{ id: 'call_calc', name: 'calculator', arguments: { expression: '2+3*4' } }] }, { text: 'The answer is 14.' });
    const body = await okChat(svc, { message: 'What is 2+3*4?' });

    assert.equal(body.reply, 'The answer is 14.');
    assert.equal(body.tool_calls.length, 1);
    assert.deepEqual(body.tool_calls[0], {
      id: 'call_calc',
      name: 'calculator',
      arguments: { expression: '2+3*4' },
      result: { expression: '2+3*4', result: 14 },
    });
    // Usage sums both model steps.
    assert.equal(body.usage.input_tokens, 20);
    assert.equal(body.usage.total_tokens, body.usage.input_tokens + body.usage.output_tokens);

    assert.equal(svc.fake.requests.length, first + 2);
    const tools = (svc.fake.requests[first]!.body.tools ?? []).map((t) => t.function.name).sort();
    assert.deepEqual(tools, ['calculator', 'current_time']);
    const second = sentMessages(svc.fake, first + 1);
    const call = second.find((m) => m.role === 'assistant' && m.tool_calls?.length);
    assert.ok(call, 'the 2nd request repeats the assistant tool call');
    assert.equal(call.tool_calls![0]!.id, 'call_calc');
    assert.deepEqual(JSON.parse(call.tool_calls![0]!.function.arguments), { expression: '2+3*4' });
    const toolMsg = second.find((m) => m.role === 'tool');
    assert.ok(toolMsg, 'the 2nd request carries a role "tool" message');
    assert.equal(toolMsg.tool_call_id, 'call_calc');
    assert.match(String(toolMsg.content), /\b14\b/);
    assert.deepEqual(JSON.parse(String(toolMsg.content)), { expression: '2+3*4', result: 14 });
    assert.ok(second.indexOf(call) < second.indexOf(toolMsg));

    // The session keeps the whole step, in order.
    const session = await getSession(svc, body.session_id);
    assert.deepEqual(
      session.messages.map((m) => m.role),
      ['user', 'assistant', 'tool', 'assistant'],
    );
    assert.deepEqual(session.messages[2]!.result, { expression: '2+3*4', result: 14 });
    assert.equal(session.messages[2]!.tool_call_id, 'call_calc');
  });

  test('a calculator error is a tool result the model can read, and the loop continues', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ toolCalls: [{ name: 'calculator', arguments: { expression: '1/0' } }] }, { text: 'Cannot divide by zero.' });
    const body = await okChat(svc, { message: '1/0?' });
    assert.equal(body.reply, 'Cannot divide by zero.');
    assert.deepEqual(body.tool_calls[0]!.result, { error: 'Division by zero' });
    assert.equal(svc.fake.requests.length, first + 2);
    const toolMsg = sentMessages(svc.fake, first + 1).find((m) => m.role === 'tool');
    assert.match(String(toolMsg?.content), /Division by zero/);
  });

  test('current_time with a time zone', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ toolCalls: [{ name: 'current_time', arguments: { timezone: 'Asia/Shanghai' } }] }, { text: 'It is late.' });
    const before = Date.now();
    const body = await okChat(svc, { message: 'What time is it in Shanghai?' });
    const call = body.tool_calls[0]!;
    assert.equal(call.name, 'current_time');
    assert.deepEqual(call.arguments, { timezone: 'Asia/Shanghai' });
    const result = call.result as { timezone: string; iso: string; local: string };
    assert.equal(result.timezone, 'Asia/Shanghai');
    const at = Date.parse(result.iso);
    assert.ok(at >= before - 1000 && at <= Date.now() + 1000, `iso ${result.iso} is now`);
    assert.equal(typeof result.local, 'string');
    assert.match(result.local, /\d{4}/);
    assert.equal(svc.fake.requests.length, first + 2);
    const toolMsg = sentMessages(svc.fake, first + 1).find((m) => m.role === 'tool');
    assert.match(String(toolMsg?.content), /Asia\/Shanghai/);
  });

  test('current_time with a bad time zone: the result carries an error and the loop continues', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ toolCalls: [{ name: 'current_time', arguments: { timezone: 'Mars/Olympus_Mons' } }] }, { text: 'That zone does not exist.' });
    const body = await okChat(svc, { message: 'Time on Mars?' });
    assert.equal(body.reply, 'That zone does not exist.');
    const result = body.tool_calls[0]!.result as { error?: unknown };
    assert.equal(typeof result.error, 'string');
    assert.match(String(result.error), /Mars\/Olympus_Mons/);
    // The second model request happened, carrying the error for the model to read.
    assert.equal(svc.fake.requests.length, first + 2);
    const toolMsg = sentMessages(svc.fake, first + 1).find((m) => m.role === 'tool');
    assert.ok(toolMsg);
    assert.match(String(toolMsg.content), /Unknown time zone/);
  });

  test('history reaches the model on the next turn, in order, after the system prompt', async () => {
    svc.fake.enqueue({ text: 'Nice to meet you, Ada.' });
    const one = await okChat(svc, { message: 'My name is Ada.' });
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'Your name is Ada.' });
    const two = await okChat(svc, { message: 'What is my name?', session_id: one.session_id });
    assert.equal(two.session_id, one.session_id);
    assert.equal(two.reply, 'Your name is Ada.');
    assert.deepEqual(sentMessages(svc.fake, first).map(brief), [
      { role: 'system', content: INSTRUCTIONS },
      { role: 'user', content: 'My name is Ada.' },
      { role: 'assistant', content: 'Nice to meet you, Ada.' },
      { role: 'user', content: 'What is my name?' },
    ]);
    // Another session does not see it.
    svc.fake.enqueue({ text: 'I do not know.' });
    const other = await okChat(svc, { message: 'What is my name?' });
    assert.notEqual(other.session_id, one.session_id);
    assert.deepEqual(sentMessages(svc.fake, svc.fake.requests.length - 1).map(brief), [
      { role: 'system', content: INSTRUCTIONS },
      { role: 'user', content: 'What is my name?' },
    ]);
  });

  test('history with a tool step replays the call and its result', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_hist', name: 'calculator', arguments: { expression: '6*7' } }] }, { text: '42' });
    const one = await okChat(svc, { message: '6*7?' });
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'Yes.' });
    await okChat(svc, { message: 'Sure?', session_id: one.session_id });
    const sent = sentMessages(svc.fake, first);
    assert.deepEqual(
      sent.map((m) => m.role),
      ['system', 'user', 'assistant', 'tool', 'assistant', 'user'],
    );
    assert.equal(sent[2]!.tool_calls?.[0]?.id, 'call_hist');
    assert.equal(sent[3]!.tool_call_id, 'call_hist');
    assert.deepEqual(JSON.parse(String(sent[3]!.content)), { expression: '6*7', result: 42 });
  });

  test('upstream 500 → 502 upstream_error without leaking the provider body', async () => {
    const secret = 'sk-live-SECRET-9f8e7d6c5b4a';
    svc.fake.enqueue({ error: { status: 500, body: { error: { message: `Internal failure for key ${secret} org-TOPSECRET`, type: 'server_error' } } } });
    const { value: res, output } = await captureConsole(() => svc.chat({ message: 'hello?' }));
    const { body, text } = await errorOf(res, 502, 'upstream_error');
    assert.ok(!text.includes('SECRET'), `no provider text in ${text}`);
    assert.ok(!text.includes('Internal failure'));
    assert.match(body.error.request_id, /\S/);
    // Nor is the provider's body dumped to the console behind the logger's back.
    assert.ok(!output.includes('SECRET'), `console output leaks the provider body: ${output.slice(0, 300)}`);
  });

  test('upstream 401 → 502 upstream_error', async () => {
    svc.fake.enqueue({ error: { status: 401, body: { error: { message: 'Incorrect API key provided: sk-SECRET-401', type: 'invalid_request_error' } } } });
    const { text } = await errorOf(await svc.chat({ message: 'hello?' }), 502, 'upstream_error');
    assert.ok(!text.includes('SECRET'), text);
  });

  test('after an upstream failure the session keeps the user message and an interrupted assistant', async () => {
    const id = `failed-${Date.now()}`;
    svc.fake.enqueue({ error: { status: 500 } });
    await errorOf(await svc.chat({ message: 'this will fail', session_id: id }), 502, 'upstream_error');
    const session = await getSession(svc, id);
    assert.equal(session.messages.length, 2);
    assert.equal(session.messages[0]!.role, 'user');
    assert.equal(session.messages[0]!.content, 'this will fail');
    assert.equal(session.messages[1]!.role, 'assistant');
    assert.equal(session.messages[1]!.interrupted, true);
    assert.equal(session.messages[1]!.content, '');

    // The session is usable again, and the failed turn does not confuse the next request.
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'Recovered' });
    const next = await okChat(svc, { message: 'again', session_id: id });
    assert.equal(next.reply, 'Recovered');
    assert.deepEqual(sentMessages(svc.fake, first).map(brief), [
      { role: 'system', content: INSTRUCTIONS },
      { role: 'user', content: 'this will fail' },
      { role: 'user', content: 'again' },
    ]);
  });

  test('a reply cut by a connection reset is kept with its partial text, marked interrupted', async () => {
    const id = `reset-${Date.now()}`;
    // splitText cuts into 4-code-point pieces: 'Hell' 'o wo' arrive, then the socket is reset.
    svc.fake.enqueue({ resetAfter: 2, text: 'Hello world, this never finishes' });
    await errorOf(await svc.chat({ message: 'tell me', session_id: id }), 502, 'upstream_error');
    const session = await getSession(svc, id);
    assert.deepEqual(
      session.messages.map((m) => ({ role: m.role, content: m.content, interrupted: m.interrupted })),
      [
        { role: 'user', content: 'tell me', interrupted: undefined },
        { role: 'assistant', content: 'Hello wo', interrupted: true },
      ],
    );
  });
});

describe('POST /chat with configuration from the environment', () => {
  test('AGENT_HISTORY_MESSAGES bounds the history sent to the model', async () => {
    const svc = await startService({ env: { AGENT_HISTORY_MESSAGES: '2', AGENT_INSTRUCTIONS: INSTRUCTIONS }, transport: 'inject' });
    try {
      let id: string | undefined;
      for (const n of [1, 2, 3]) {
        svc.fake.enqueue({ text: `answer ${n}` });
        id = (await okChat(svc, { message: `question ${n}`, ...(id ? { session_id: id } : {}) })).session_id;
      }
      const first = svc.fake.requests.length;
      svc.fake.enqueue({ text: 'answer 4' });
      await okChat(svc, { message: 'question 4', session_id: id });
      assert.deepEqual(sentMessages(svc.fake, first).map(brief), [
        { role: 'system', content: INSTRUCTIONS },
        { role: 'user', content: 'question 3' },
        { role: 'assistant', content: 'answer 3' },
        { role: 'user', content: 'question 4' },
      ]);

      // A window that would open on a tool result starts at the next user message instead.
      svc.fake.enqueue({ toolCalls: [{ name: 'calculator', arguments: { expression: '1+1' } }] }, { text: 'two' });
      const t = await okChat(svc, { message: '1+1?' });
      const stored = await getSession(svc, t.session_id);
      assert.deepEqual(
        stored.messages.map((m) => m.role),
        ['user', 'assistant', 'tool', 'assistant'], // the last 2 are [tool, assistant]
      );
      const next = svc.fake.requests.length;
      svc.fake.enqueue({ text: 'ok' });
      await okChat(svc, { message: 'thanks', session_id: t.session_id });
      const sent = sentMessages(svc.fake, next);
      assert.notEqual(sent[1]?.role, 'tool');
      assert.ok(!sent.some((m) => m.role === 'tool'), 'no orphaned tool result');
      assert.deepEqual(sent.map(brief), [
        { role: 'system', content: INSTRUCTIONS },
        { role: 'user', content: 'thanks' },
      ]);
    } finally {
      await svc.close();
    }
  });

  test('AGENT_MAX_STEPS caps the tool loop; the reply still ends 200', async () => {
    const svc = await startService({ env: { AGENT_MAX_STEPS: '2' }, transport: 'inject' });
    try {
      svc.fake.setDefault({ toolCalls: [{ name: 'calculator', arguments: { expression: '1+1' } }] });
      const body = await okChat(svc, { message: 'loop forever' });
      assert.equal(svc.fake.requests.length, 2);
      assert.equal(body.tool_calls.length, 2);
      for (const call of body.tool_calls) assert.deepEqual(call.result, { expression: '1+1', result: 2 });
      assert.equal(body.reply, ''); // every step was a tool call
      assert.match(body.session_id, UUID);
      // Still exactly 2 once the dust settles.
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(svc.fake.requests.length, 2);
    } finally {
      await svc.close();
    }
  });

  test('a refused connection → 502 upstream_error', async () => {
    const port = await closedPort();
    const svc = await startService({ env: { LLM_BASE_URL: `http://127.0.0.1:${port}/v1` }, transport: 'inject' });
    try {
      const res = await svc.chat({ message: 'anyone there?' });
      const { body } = await errorOf(res, 502, 'upstream_error');
      assert.ok(!body.error.message.includes(String(port)), 'the provider address is not echoed');
      assert.equal(svc.fake.requests.length, 0);
    } finally {
      await svc.close();
    }
  });

  test('a silent model → 504 upstream_timeout after LLM_TIMEOUT_MS, and the upstream request is hung up', async () => {
    const svc = await startService({ env: { LLM_TIMEOUT_MS: '300' }, transport: 'inject' });
    try {
      svc.fake.enqueue({ hang: true });
      const started = Date.now();
      const res = await svc.chat({ message: 'are you there?' });
      const { body } = await errorOf(res, 504, 'upstream_timeout');
      assert.ok(Date.now() - started >= 250, 'waited for the timeout');
      await svc.fake.waitForAbort(0);
      assert.equal(svc.fake.requests[0]!.aborted, true);
      assert.equal(svc.fake.requests.length, 1);

      const sessions = (await (await svc.request('/sessions')).json()) as { sessions: Array<{ id: string }> };
      const session = await getSession(svc, sessions.sessions[0]!.id);
      assert.deepEqual(
        session.messages.map((m) => [m.role, m.interrupted ?? false]),
        [
          ['user', false],
          ['assistant', true],
        ],
      );
      assert.equal(typeof body.error.message, 'string');
    } finally {
      await svc.close();
    }
  });

  test('unconfigured: /chat and /chat/stream answer 503 model_not_configured; /health 200; /ready 503', async () => {
    const svc = await startService({ noModel: true, transport: 'inject' });
    try {
      const chat = await errorOf(await svc.chat({ message: 'hi' }), 503, 'model_not_configured');
      assert.match(chat.body.error.message, /LLM_BASE_URL/);
      assert.match(chat.body.error.message, /LLM_MODEL/);
      const stream = await errorOf(await svc.stream({ message: 'hi' }), 503, 'model_not_configured');
      assert.match(stream.body.error.message, /LLM_BASE_URL/);

      const health = await svc.request('/health', { key: null });
      assert.equal(health.status, 200);
      assert.equal(((await health.json()) as { status: string }).status, 'healthy');
      const ready = await errorOf(await svc.request('/ready', { key: null }), 503, 'not_ready');
      assert.match(ready.body.error.message, /LLM_BASE_URL/);

      assert.equal(svc.fake.requests.length, 0);
      // Nothing was started: no session was created by the refused requests.
      const list = (await (await svc.request('/sessions')).json()) as { sessions: unknown[] };
      assert.deepEqual(list.sessions, []);
    } finally {
      await svc.close();
    }
  });
});

describe('POST /chat with a custom agent', () => {
  let fake: FakeLlm;
  let svc: TestService;
  const seen: string[] = [];
  before(async () => {
    fake = await startFakeLlm();
    const agent = fakeModelAgent(fake, {
      reverse: tool({
        description: 'Reverse a string',
        inputSchema: z.object({ text: z.string() }),
        execute: ({ text }) => {
          seen.push(text);
          return { reversed: Array.from(text).reverse().join('') };
        },
      }),
    });
    svc = await startService({ agent, fake, transport: 'inject' });
  });
  after(async () => {
    await svc.close();
    await fake.close();
  });

  test('the custom tool is offered, called, and its result returned', async () => {
    fake.enqueue({ toolCalls: [{ id: 'call_rev', name: 'reverse', arguments: { text: 'stressed' } }] }, { text: 'It reads "desserts".' });
    const body = await okChat(svc, { message: 'Reverse "stressed"' });
    assert.deepEqual(seen, ['stressed']);
    assert.equal(body.reply, 'It reads "desserts".');
    assert.deepEqual(body.tool_calls, [{ id: 'call_rev', name: 'reverse', arguments: { text: 'stressed' }, result: { reversed: 'desserts' } }]);
    assert.equal(fake.requests.length, 2);
    const offered = (fake.requests[0]!.body.tools ?? []).map((t) => t.function.name);
    assert.deepEqual(offered, ['reverse']);
    assert.deepEqual(sentMessages(fake, 0)[0], { role: 'system', content: DEFAULT_INSTRUCTIONS });
    const toolMsg = sentMessages(fake, 1).find((m) => m.role === 'tool');
    assert.deepEqual(JSON.parse(String(toolMsg?.content)), { reversed: 'desserts' });
  });
});

describe('persistence', () => {
  test('sessions survive a restart on the same SQLite file', async () => {
    const first = await startService({ keepDir: true, transport: 'inject' });
    const { dir } = first;
    let firstOpen = true;
    try {
      first.fake.enqueue({ text: 'I will remember.' });
      const { session_id } = await okChat(first, { message: 'Remember the number 7.' });
      firstOpen = false;
      await first.close();

      const second = await startService({ dir, transport: 'inject' });
      try {
        const session = await getSession(second, session_id);
        assert.deepEqual(
          session.messages.map((m) => [m.role, m.content]),
          [
            ['user', 'Remember the number 7.'],
            ['assistant', 'I will remember.'],
          ],
        );
        // And the restored history reaches the model.
        second.fake.enqueue({ text: 'It was 7.' });
        await okChat(second, { message: 'Which number?', session_id });
        assert.deepEqual(
          sentMessages(second.fake, 0)
            .slice(1)
            .map((m) => m.content),
          ['Remember the number 7.', 'I will remember.', 'Which number?'],
        );
      } finally {
        await second.close();
      }
    } finally {
      if (firstOpen) await first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
