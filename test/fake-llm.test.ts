import { afterEach, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';

let fake: FakeLlm;

beforeEach(async () => {
  fake = await startFakeLlm();
});

afterEach(async () => {
  await fake.close();
});

function chat(body: Record<string, unknown>, init: RequestInit = {}): Promise<Response> {
  return fetch(`${fake.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test-key' },
    body: JSON.stringify({ model: 'fake-model', messages: [{ role: 'user', content: 'hi' }], ...body }),
    ...init,
  });
}

interface ToolCallDelta {
  index: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}
/** A `chat.completion.chunk` as the fake streams it. */
interface Chunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: Array<{ index: number; delta: { role?: string; content?: string; tool_calls?: ToolCallDelta[] }; finish_reason: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}
/** A non-streamed `chat.completion`. */
interface Completion {
  object: string;
  model: string;
  choices: Array<{
    message: { role: string; content: string | null; tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }> };
    finish_reason: string;
  }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

interface SseResult {
  /** Parsed `data:` payloads, excluding the [DONE] sentinel. */
  events: Chunk[];
  sawDone: boolean;
  /** Number of separate network reads, to prove chunks are flushed individually. */
  reads: number;
  /** Content deltas received before the stream ended or failed. */
  content: string;
  error?: unknown;
}

async function readSse(res: Response): Promise<SseResult> {
  assert.ok(res.body, 'response has a body');
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const result: SseResult = { events: [], sawDone: false, reads: 0, content: '' };
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      result.reads++;
      buffer += decoder.decode(value, { stream: true });
      let sep: number;
      while ((sep = buffer.indexOf('\n\n')) !== -1) {
        const frame = buffer.slice(0, sep);
        buffer = buffer.slice(sep + 2);
        assert.ok(frame.startsWith('data: '), `frame is a data line: ${JSON.stringify(frame)}`);
        const data = frame.slice('data: '.length);
        if (data === '[DONE]') {
          result.sawDone = true;
          continue;
        }
        assert.equal(result.sawDone, false, 'nothing after [DONE]');
        const event = JSON.parse(data) as Chunk;
        result.events.push(event);
        const piece = event.choices[0]?.delta.content;
        if (typeof piece === 'string') result.content += piece;
      }
    }
  } catch (err) {
    result.error = err;
  }
  assert.equal(buffer, '', 'no trailing partial frame');
  return result;
}

test('streams text as separate, OpenAI-shaped chunks ending with [DONE]', async () => {
  fake.enqueue({ text: 'Hello, streaming world!', delayMs: 15 });
  const res = await chat({ stream: true });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);

  const { events, sawDone, reads, content, error } = await readSse(res);
  assert.equal(error, undefined);
  assert.equal(sawDone, true);
  assert.equal(content, 'Hello, streaming world!');

  for (const e of events) {
    assert.match(e.id, /^chatcmpl-fake-\d+$/);
    assert.equal(e.object, 'chat.completion.chunk');
    assert.equal(e.model, 'fake-model');
    assert.equal(typeof e.created, 'number');
  }
  assert.deepEqual(events[0]?.choices, [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  const deltas = events.slice(1, -1).map((e) => e.choices[0]?.delta.content);
  assert.deepEqual(deltas, ['Hell', 'o, s', 'trea', 'ming', ' wor', 'ld!']);
  assert.deepEqual(events.at(-1)?.choices, [{ index: 0, delta: {}, finish_reason: 'stop' }]);
  // With a delay between writes, each chunk must reach the client on its own.
  assert.ok(reads >= deltas.length, `expected >= ${deltas.length} reads, got ${reads}`);
});

test('explicit chunks and finishReason are sent verbatim', async () => {
  fake.enqueue({ text: 'abcdef', chunks: ['a', 'bcde', 'f'], finishReason: 'length' });
  const { events } = await readSse(await chat({ stream: true }));
  assert.deepEqual(
    events.slice(1, -1).map((e) => e.choices[0]?.delta.content),
    ['a', 'bcde', 'f'],
  );
  assert.equal(events.at(-1)?.choices[0]?.finish_reason, 'length');
  assert.throws(() => fake.enqueue({ text: 'abc', chunks: ['a', 'b'] }), /do not join/);
});

test('include_usage adds a usage chunk before [DONE]', async () => {
  fake.enqueue({ text: 'twelve chars' }, { text: 'x', usage: { prompt_tokens: 7, completion_tokens: 3 } });

  const first = await readSse(await chat({ stream: true, stream_options: { include_usage: true } }));
  const usageEvent = first.events.at(-1);
  assert.ok(usageEvent);
  assert.deepEqual(usageEvent.choices, []);
  assert.deepEqual(usageEvent.usage, { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 });
  assert.equal(first.events.at(-2)?.choices[0]?.finish_reason, 'stop');
  assert.equal(first.sawDone, true);

  const second = await readSse(await chat({ stream: true, stream_options: { include_usage: true } }));
  assert.deepEqual(second.events.at(-1)?.usage, { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });

  // Without the option no usage chunk is sent.
  const third = await readSse(await chat({ stream: true }));
  assert.ok(third.events.every((e) => e.usage === undefined));
});

test('streamed tool calls reassemble into valid JSON arguments', async () => {
  fake.enqueue({
    toolCalls: [
      { name: 'get_weather', arguments: { city: 'Paris', units: 'metric' } },
      { id: 'custom_id', name: 'echo', arguments: '{"msg":"hi"}' },
    ],
  });
  const { events, sawDone } = await readSse(await chat({ stream: true }));
  assert.equal(sawDone, true);

  const calls: Array<{ id?: string; name?: string; args: string; pieces: number }> = [];
  for (const e of events) {
    for (const tc of e.choices[0]?.delta.tool_calls ?? []) {
      const call = (calls[tc.index] ??= { args: '', pieces: 0 });
      if (tc.id) call.id = tc.id;
      if (tc.function?.name) call.name = tc.function.name;
      if (tc.type !== undefined) assert.equal(tc.type, 'function');
      call.args += tc.function?.arguments ?? '';
      call.pieces++;
    }
  }
  assert.equal(calls.length, 2);
  assert.match(calls[0]!.id ?? '', /^call_\d+$/);
  assert.equal(calls[0]!.name, 'get_weather');
  assert.deepEqual(JSON.parse(calls[0]!.args), { city: 'Paris', units: 'metric' });
  assert.equal(calls[0]!.pieces, 2, 'arguments arrive in two pieces');
  assert.equal(calls[1]!.id, 'custom_id');
  assert.deepEqual(JSON.parse(calls[1]!.args), { msg: 'hi' });
  assert.equal(events.at(-1)?.choices[0]?.finish_reason, 'tool_calls');
});

test('non-stream requests get a chat.completion JSON object', async () => {
  fake.enqueue({ text: 'plain answer' }, { toolCalls: [{ name: 'lookup', arguments: { q: 1 } }] });

  const res = await chat({});
  assert.equal(res.status, 200);
  const body = (await res.json()) as Completion;
  assert.equal(body.object, 'chat.completion');
  assert.equal(body.model, 'fake-model');
  assert.deepEqual(body.choices[0]?.message, { role: 'assistant', content: 'plain answer' });
  assert.equal(body.choices[0]?.finish_reason, 'stop');
  assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);

  const tool = (await (await chat({ stream: false })).json()) as Completion;
  assert.equal(tool.choices[0]?.finish_reason, 'tool_calls');
  assert.equal(tool.choices[0]?.message.content, null);
  const [call] = tool.choices[0]?.message.tool_calls ?? [];
  assert.ok(call);
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'lookup');
  assert.deepEqual(JSON.parse(call.function.arguments), { q: 1 });
});

test('error replies use the given status and body', async () => {
  fake.enqueue({ error: { status: 500 } }, { error: { status: 429, body: { error: { message: 'slow down' } } } });

  const first = await chat({ stream: true });
  assert.equal(first.status, 500);
  assert.deepEqual(await first.json(), { error: { message: 'fake failure', type: 'server_error', code: null } });

  const second = await chat({});
  assert.equal(second.status, 429);
  assert.deepEqual(await second.json(), { error: { message: 'slow down' } });
  assert.equal(fake.requests[1]!.finished, true);
});

test('hang never answers; aborting the client is recorded', async () => {
  fake.enqueue({ hang: true });
  const ac = new AbortController();
  const pending = chat({ stream: true }, { signal: ac.signal });
  const aborted = fake.waitForAbort(); // no request yet: waits for the next one
  await fake.waitForRequests(1);
  assert.equal(fake.requests[0]!.aborted, false);

  ac.abort();
  await assert.rejects(pending, { name: 'AbortError' });
  await aborted;
  assert.equal(fake.requests[0]!.aborted, true);
  assert.equal(fake.requests[0]!.finished, false);
});

test('aborting during a delay stops the stream and is recorded', async () => {
  fake.enqueue({ text: 'a'.repeat(40), delayMs: 10_000 });
  const ac = new AbortController();
  const res = await chat({ stream: true }, { signal: ac.signal });
  const reader = res.body!.getReader();
  const { value } = await reader.read(); // role chunk arrives before the first delay
  assert.match(new TextDecoder().decode(value), /"role":"assistant"/);

  ac.abort();
  await fake.waitForAbort(0, 2000);
  assert.equal(fake.requests[0]!.finished, false);
});

test('waitForAbort rejects on timeout', async () => {
  fake.enqueue({ text: 'done' });
  await (await chat({})).text();
  await assert.rejects(fake.waitForAbort(0, 50), /timed out/);
});

test('resetAfter delivers partial content then breaks the stream', async () => {
  fake.enqueue({ resetAfter: 2, text: 'abcdefghijkl' });
  const res = await chat({ stream: true });
  assert.equal(res.status, 200);
  const { content, sawDone, error } = await readSse(res);
  assert.equal(content, 'abcdefgh');
  assert.equal(sawDone, false);
  assert.ok(error, 'body reader errors on the reset');
  assert.equal(fake.requests[0]!.finished, false);
  // The server caused this, so it is not recorded as a client abort.
  assert.equal(fake.requests[0]!.aborted, false);
});

test('records requests, serves FIFO then default, and other routes', async () => {
  fake.enqueue({ text: 'first' }, { text: 'second' });
  fake.setDefault({ text: 'fallback' });

  const answers: string[] = [];
  for (let i = 0; i < 4; i++) {
    const body = (await (await chat({ n: i })).json()) as Completion;
    answers.push(String(body.choices[0]?.message.content));
  }
  assert.deepEqual(answers, ['first', 'second', 'fallback', 'fallback']);

  await fake.waitForRequests(4, 100);
  const [rec] = fake.requests;
  assert.equal(rec!.method, 'POST');
  assert.equal(rec!.path, '/v1/chat/completions');
  assert.equal(rec!.headers.authorization, 'Bearer test-key');
  assert.deepEqual(rec!.body, { model: 'fake-model', messages: [{ role: 'user', content: 'hi' }], n: 0 });
  assert.equal(rec!.finished, true);
  assert.deepEqual(
    fake.requests.map((r) => r.body['n']),
    [0, 1, 2, 3],
  );

  const models = await fetch(`${fake.url}/models`);
  assert.deepEqual(await models.json(), {
    object: 'list',
    data: [{ id: 'fake-model', object: 'model', created: 0, owned_by: 'fake' }],
  });
  const missing = await fetch(`${fake.url}/nope`);
  assert.equal(missing.status, 404);
  assert.ok(((await missing.json()) as { error: { message: string } }).error.message);
  assert.equal(fake.requests.length, 4, 'only chat requests are recorded');

  await assert.rejects(fake.waitForRequests(5, 50), /timed out/);
});

test('close() does not wait for hung requests', async () => {
  fake.enqueue({ hang: true });
  const pending = chat({}).catch((err: unknown) => err);
  await fake.waitForRequests(1);
  const started = Date.now();
  await fake.close();
  assert.ok(Date.now() - started < 1000);
  assert.ok((await pending) instanceof Error, 'client sees the connection drop');
  // Restart so afterEach has a live server to close.
  fake = await startFakeLlm();
});
