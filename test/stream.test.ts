/**
 * POST /chat/stream against the fake model: SSE framing, tool events and errors inside the stream
 * (through Fastify's inject()); and, over real HTTP, incremental delivery, the seed's browser
 * reader, keep-alives, the one-run-per-session rule and client hang-ups (upstream aborted, session
 * kept consistent and released, no model call once the client has gone, one request log line).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import type { StreamEvent } from '../src/core/events.js';
import { createDefaultAgent } from '../src/default-agent.js';
import { buildApp } from '../src/http/app.js';
import { openStore } from '../src/store/open-store.js';
import type { Storage } from '../src/store/storage.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { fakeModelAgent, KEY_A, parseSse, readChunks, slowTool, startService, type TestService, waitFor } from './support/service.js';

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;

interface StoredMessage {
  role: 'user' | 'assistant' | 'tool';
  content?: string;
  tool_calls?: Array<{ id: string; name: string; arguments: unknown }>;
  interrupted?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads the whole stream and parses it strictly. */
async function readStream(res: Response): Promise<{ text: string; events: StreamEvent[]; ids: Array<string | undefined>; comments: string[] }> {
  assert.equal(res.status, 200);
  const text = await readChunks(res);
  const parsed = parseSse(text);
  return { text, events: parsed.events.map((e) => e.data), ids: parsed.events.map((e) => e.id), comments: parsed.comments };
}

/** Reads until `until` holds for the events seen so far, then stops reading (the body stays open). */
async function readUntil(res: Response, until: (events: StreamEvent[]) => boolean): Promise<StreamEvent[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`stream ended before the condition held: ${text}`);
    text += decoder.decode(value, { stream: true });
    const complete = text.slice(0, text.lastIndexOf('\n\n') + 2);
    const events = parseSse(complete).events.map((e) => e.data);
    if (until(events)) {
      reader.releaseLock();
      return events;
    }
  }
}

async function getMessages(svc: TestService, id: string): Promise<StoredMessage[]> {
  const res = await svc.request(`/sessions/${encodeURIComponent(id)}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { messages: StoredMessage[] }).messages;
}

const types = (events: StreamEvent[]) => events.map((e) => e.type);
const tokens = (events: StreamEvent[]) =>
  events
    .filter((e): e is Ev<'token'> => e.type === 'token')
    .map((e) => e.content)
    .join('');
const hasToken = (events: StreamEvent[]) => events.some((e) => e.type === 'token');

describe('POST /chat/stream: framing, events and errors', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ transport: 'inject' });
  });
  after(() => svc.close());

  test('SSE headers', async () => {
    svc.fake.enqueue({ text: 'hi' });
    const res = await svc.stream({ message: 'hello' });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream\b/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    assert.ok(res.headers.get('x-request-id'));
    await readStream(res);
  });

  test('a client x-request-id is echoed on the stream', async () => {
    svc.fake.enqueue({ text: 'hi' });
    const res = await svc.request('/chat/stream', { method: 'POST', json: { message: 'hello' }, headers: { 'x-request-id': 'trace-abc.123' } });
    assert.equal(res.headers.get('x-request-id'), 'trace-abc.123');
    await readStream(res);
  });

  test('framing: numbered ids, one data line each, start → step_start → tokens → step_finish → end', async () => {
    svc.fake.enqueue({ text: 'streamed reply here', usage: { prompt_tokens: 7, completion_tokens: 5 } });
    const res = await svc.stream({ message: 'hello', session_id: 'framing-1' });
    const { text, events, ids } = await readStream(res);

    // Every block is exactly `id: N` then one `data: {...}` line.
    const blocks = text.split('\n\n').filter((b) => b.length > 0);
    assert.equal(blocks.length, events.length);
    blocks.forEach((block, i) => {
      const lines = block.split('\n');
      assert.equal(lines.length, 2, `block ${i}: ${JSON.stringify(block)}`);
      assert.equal(lines[0], `id: ${i + 1}`);
      assert.ok(lines[1]!.startsWith('data: '));
      const data = JSON.parse(lines[1]!.slice(6)) as { type?: unknown };
      assert.equal(typeof data.type, 'string');
    });
    assert.deepEqual(
      ids,
      events.map((_, i) => String(i + 1)),
    );
    assert.ok(text.endsWith('\n\n'));

    assert.equal(events[0]!.type, 'start');
    assert.equal(events.at(-1)!.type, 'end');
    assert.deepEqual(events[1], { type: 'step_start', step: 1 });
    assert.deepEqual(events.at(-2), { type: 'step_finish', step: 1, finish_reason: 'stop', usage: { input_tokens: 7, output_tokens: 5, total_tokens: 12 } });
    assert.ok(events.slice(2, -2).every((e) => e.type === 'token'));
    assert.ok(events.length >= 6);
    const start = events[0] as Ev<'start'>;
    assert.equal(start.session_id, 'framing-1');
    assert.match(start.run_id, /^run_[0-9a-f]{32}$/, 'start names the run');
    assert.deepEqual(Object.keys(start).sort(), ['run_id', 'session_id', 'type']);
    const end = events.at(-1) as Ev<'end'>;
    assert.equal(end.session_id, 'framing-1');
    assert.equal(end.reply, 'streamed reply here');
    assert.equal(end.reply, tokens(events));
    assert.deepEqual(end.usage, { input_tokens: 7, output_tokens: 5, total_tokens: 12 });
    assert.equal(end.finish_reason, 'stop');

    // Ids restart per stream.
    svc.fake.enqueue({ text: 'again' });
    const second = await readStream(await svc.stream({ message: 'again', session_id: 'framing-1' }));
    assert.equal(second.ids[0], '1');
    assert.equal(second.events.at(-1)!.type, 'end');
  });

  test('a new session gets its id in start and end', async () => {
    svc.fake.enqueue({ text: 'hi' });
    const { events } = await readStream(await svc.stream({ message: 'new' }));
    const start = events[0] as Ev<'start'>;
    assert.match(start.session_id, /^[0-9a-f-]{36}$/);
    assert.equal((events.at(-1) as Ev<'end'>).session_id, start.session_id);
  });

  test('tool_call and tool_result events arrive in order between tokens', async () => {
    svc.fake.enqueue(
      { text: 'Let me compute. ', toolCalls: [{ id: 'call_s1', name: 'calculator', arguments: { expression: '2+3*4' } }] },
      { text: 'It is 14.' },
    );
    const { events } = await readStream(await svc.stream({ message: '2+3*4?' }));
    const kinds = types(events);
    const callAt = kinds.indexOf('tool_call');
    const resultAt = kinds.indexOf('tool_result');
    assert.ok(callAt > 0 && resultAt > callAt, kinds.join(','));
    assert.ok(kinds.slice(1, callAt).includes('token'), 'text before the call');
    assert.ok(kinds.slice(resultAt + 1, -1).includes('token'), 'text after the result');
    assert.equal(kinds[0], 'start');
    assert.equal(kinds.at(-1), 'end');
    assert.deepEqual(events[callAt], { type: 'tool_call', id: 'call_s1', name: 'calculator', arguments: { expression: '2+3*4' } });
    assert.deepEqual(events[resultAt], { type: 'tool_result', id: 'call_s1', name: 'calculator', result: { expression: '2+3*4', result: 14 } });
    assert.equal((events.at(-1) as Ev<'end'>).reply, 'Let me compute. It is 14.');
  });

  test('upstream 500 in a stream: error event then end, last; HTTP 200', async () => {
    svc.fake.enqueue({ error: { status: 500, body: { error: { message: 'leaky SECRET-500 detail' } } } });
    const res = await svc.stream({ message: 'fail please', session_id: 'stream-500' });
    assert.equal(res.status, 200);
    const { text, events } = await readStream(res);
    assert.deepEqual(types(events), ['start', 'step_start', 'error', 'end']);
    const error = events[2] as Ev<'error'>;
    assert.equal(error.code, 'upstream_error');
    assert.equal(typeof error.message, 'string');
    assert.ok(error.message.length > 0);
    assert.ok(!text.includes('SECRET'), text);
    assert.equal((events[3] as Ev<'end'>).reply, '');
    assert.equal((events[3] as Ev<'end'>).finish_reason, 'error');
    const messages = await getMessages(svc, 'stream-500');
    assert.deepEqual(
      messages.map((m) => [m.role, m.interrupted ?? false]),
      [
        ['user', false],
        ['assistant', true],
      ],
    );
  });

  test('upstream 500 after a tool step: tokens so far are kept, error then end', async () => {
    svc.fake.enqueue({ text: 'Checking. ', toolCalls: [{ id: 'call_e', name: 'calculator', arguments: { expression: '1+1' } }] }, { error: { status: 500 } });
    const res = await svc.stream({ message: 'go', session_id: 'stream-500-partial' });
    assert.equal(res.status, 200);
    const { events } = await readStream(res);
    assert.deepEqual(types(events).slice(-2), ['error', 'end']);
    assert.ok(types(events).includes('tool_result'));
    assert.equal((events.at(-2) as Ev<'error'>).code, 'upstream_error');
    assert.equal((events.at(-1) as Ev<'end'>).reply, 'Checking. ');
    const messages = await getMessages(svc, 'stream-500-partial');
    assert.deepEqual(
      messages.map((m) => ({ role: m.role, content: m.content, interrupted: m.interrupted })),
      [
        { role: 'user', content: 'go', interrupted: undefined },
        { role: 'assistant', content: 'Checking. ', interrupted: undefined },
        { role: 'tool', content: undefined, interrupted: undefined },
        { role: 'assistant', content: '', interrupted: true },
      ],
    );
  });

  test('a reset mid-reply: partial tokens, error, end with the partial reply; kept as interrupted', async () => {
    svc.fake.enqueue({ resetAfter: 3, text: 'abcdefghijklmnopqrstuvwxyz' });
    const res = await svc.stream({ message: 'alphabet', session_id: 'stream-reset' });
    const { events } = await readStream(res);
    assert.equal(tokens(events), 'abcdefghijkl');
    assert.deepEqual(types(events).slice(-2), ['error', 'end']);
    assert.equal((events.at(-2) as Ev<'error'>).code, 'upstream_error');
    assert.equal((events.at(-1) as Ev<'end'>).reply, 'abcdefghijkl');
    const messages = await getMessages(svc, 'stream-reset');
    assert.deepEqual(messages.at(-1), { ...messages.at(-1), role: 'assistant', content: 'abcdefghijkl', interrupted: true });
  });
});

describe("POST /chat/stream as it happens: delivery, the seed's browser reader, one run per session, hang-ups", () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(() => svc.close());

  test('tokens are delivered as they are generated', async () => {
    svc.fake.enqueue({ text: 'one two three four five', chunks: ['one ', 'two ', 'three ', 'four ', 'five'], delayMs: 150 });
    const res = await svc.stream({ message: 'count' });
    const reads: Array<{ text: string; at: number }> = [];
    const text = await readChunks(res, (chunk, at) => reads.push({ text: chunk, at }));
    const tokenReads = reads.filter((r) => r.text.includes('"type":"token"'));
    const endRead = reads.find((r) => r.text.includes('"type":"end"'));
    assert.ok(endRead);
    assert.ok(tokenReads.length >= 3, `tokens arrived in ${tokenReads.length} separate read(s)`);
    const lead = endRead.at - tokenReads[0]!.at;
    assert.ok(lead >= 300, `first token arrived only ${lead} ms before the end`);
    assert.equal(tokens(parseSse(text).events.map((e) => e.data)), 'one two three four five');
  });

  /** The seed's browser example, ported as-is (plus catching `end` to compare against). */
  async function browserSnippet(response: Response): Promise<{ output: string; endReply: string | undefined }> {
    assert.ok(response.body);
    let output = '';
    let endReply: string | undefined;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      const text = decoder.decode(value);
      const lines = text.split('\n');
      for (const line of lines) {
        if (line.startsWith('data: ')) {
          const data = JSON.parse(line.slice(6)) as StreamEvent;
          if (data.type === 'token') output += data.content;
          if (data.type === 'end') endReply = data.reply; // (not in the seed: to compare)
        }
      }
    }
    return { output, endReply };
  }

  const multilingual = ['你好', '，世界', '！', '🌍', '🚀🎉', ' 数学', '：2+2=4', ' 👨‍👩‍👧‍👦', ' café', ' ñ', '…', '中文', '测试', '😀', '结束', '。'];

  test("the seed's browser snippet reads multi-byte text over many paced chunks", async () => {
    const chunks = [...multilingual, ...multilingual, ...multilingual];
    const expected = chunks.join('');
    svc.fake.enqueue({ text: expected, chunks, delayMs: 5 });
    const response = await svc.stream({ message: 'say something multilingual' });
    assert.equal(response.status, 200);
    const { output, endReply } = await browserSnippet(response);
    assert.equal(output, expected);
    assert.equal(endReply, expected);
  });

  test("the seed's browser snippet reads a burst of multi-byte chunks", async () => {
    const chunks = Array.from({ length: 8 }, () => multilingual).flat();
    const expected = chunks.join('');
    svc.fake.enqueue({ text: expected, chunks });
    const response = await svc.stream({ message: 'say it fast' });
    assert.equal(response.status, 200);
    const { output, endReply } = await browserSnippet(response);
    assert.equal(output, expected);
    assert.equal(endReply, expected);
  });

  test('409 session_busy while a stream runs on the session; free again once it ends', async () => {
    const id = 'busy-session';
    svc.fake.enqueue({ text: 'slow slow slow slow slow', delayMs: 150 });
    const res = await svc.stream({ message: 'take your time', session_id: id });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('"type":"token"')) {
      const { done, value } = await reader.read();
      assert.ok(!done, 'stream ended early');
      text += decoder.decode(value, { stream: true });
    }

    const busy = await svc.chat({ message: 'me too', session_id: id });
    assert.equal(busy.status, 409);
    const body = (await busy.json()) as { error: { code: string; message: string; request_id: string } };
    assert.equal(body.error.code, 'session_busy');
    assert.ok(body.error.message);
    assert.ok(body.error.request_id);
    const busyStream = await svc.stream({ message: 'me too', session_id: id });
    assert.equal(busyStream.status, 409);
    assert.match(busyStream.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await busyStream.json()) as { error: { code: string } }).error.code, 'session_busy');

    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    const events = parseSse(text).events.map((e) => e.data);
    assert.equal(events.at(-1)!.type, 'end');

    svc.fake.enqueue({ text: 'your turn' });
    const next = await svc.chat({ message: 'now?', session_id: id });
    assert.equal(next.status, 200);
    assert.equal(((await next.json()) as { reply: string }).reply, 'your turn');
    // The refused requests left no trace in the session.
    const messages = await getMessages(svc, id);
    assert.deepEqual(
      messages.map((m) => m.content),
      ['take your time', 'slow slow slow slow slow', 'now?', 'your turn'],
    );
  });

  test('a client hang-up aborts the model request; partial reply kept, session released', async () => {
    const id = 'hangup-1';
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'x'.repeat(80), delayMs: 200 }); // 20 chunks of 4, 4 s in all
    const ac = new AbortController();
    const res = await svc.stream({ message: 'talk for a while', session_id: id }, undefined, ac.signal);
    const seen = await readUntil(res, hasToken);
    const partial = tokens(seen);
    assert.ok(partial.length > 0);
    ac.abort();

    await svc.fake.waitForAbort(first);
    assert.equal(svc.fake.requests[first]!.aborted, true);
    assert.equal(svc.fake.requests[first]!.finished, false);
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    await sleep(100);
    assert.equal(svc.fake.requests.length, first + 1, 'no further model request');

    const messages = await getMessages(svc, id);
    assert.equal(messages.length, 2);
    assert.deepEqual(messages[0], { ...messages[0], role: 'user', content: 'talk for a while' });
    const reply = messages[1]!;
    assert.equal(reply.role, 'assistant');
    assert.equal(reply.interrupted, true);
    assert.ok(reply.content!.startsWith(partial), `stored ${JSON.stringify(reply.content)} starts with ${JSON.stringify(partial)}`);
    assert.ok(reply.content!.length < 80, 'the reply was cut short');

    svc.fake.enqueue({ text: 'back again' });
    const next = await svc.chat({ message: 'still there?', session_id: id });
    assert.equal(next.status, 200, await next.clone().text());
    assert.equal(((await next.json()) as { reply: string }).reply, 'back again');
  });

  test('a hang-up while the model is still streaming a tool step: no tool runs, no further request', async () => {
    const id = 'hangup-tools';
    const first = svc.fake.requests.length;
    // Text, then (after a pause) the call: the hang-up lands before the step can finish.
    svc.fake.enqueue({ text: 'Let me compute that.', toolCalls: [{ id: 'call_h1', name: 'calculator', arguments: { expression: '1+1' } }], delayMs: 300 });
    const ac = new AbortController();
    const res = await svc.stream({ message: 'compute', session_id: id }, undefined, ac.signal);
    await readUntil(res, hasToken);
    ac.abort();

    await svc.fake.waitForAbort(first);
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    await sleep(200);
    assert.equal(svc.fake.requests.length, first + 1, 'no request after the hang-up');
    const messages = await getMessages(svc, id);
    assert.deepEqual(
      messages.map((m) => [m.role, m.interrupted ?? false]),
      [
        ['user', false],
        ['assistant', true],
      ],
    );
    assert.ok('Let me compute that.'.startsWith(messages[1]!.content!));
    assert.equal(messages[1]!.tool_calls, undefined, 'the call never completed');
  });

  test('a hang-up after a tool_call event stops the loop: a step already under way is aborted, none follows', async () => {
    const id = 'hangup-after-call';
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ toolCalls: [{ id: 'call_h2', name: 'calculator', arguments: { expression: '2+2' } }], delayMs: 100 });
    // Whatever comes next is slow, so a step that started before the hang-up was noticed is still running.
    svc.fake.setDefault({ text: 'y'.repeat(80), delayMs: 300 });
    try {
      const ac = new AbortController();
      const res = await svc.stream({ message: 'compute', session_id: id }, undefined, ac.signal);
      const seen = await readUntil(res, (events) => events.some((e) => e.type === 'tool_call'));
      assert.deepEqual(
        seen.find((e) => e.type === 'tool_call'),
        { type: 'tool_call', id: 'call_h2', name: 'calculator', arguments: { expression: '2+2' } },
      );
      ac.abort();

      await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
      // The tool's result may already have gone back to the model (the SDK runs tools the moment a
      // step ends, racing the hang-up); if so, that request must have been hung up on.
      if (svc.fake.requests.length > first + 1) await svc.fake.waitForAbort(first + 1);
      await sleep(200);
      assert.ok(svc.fake.requests.length <= first + 2, `${svc.fake.requests.length - first} model requests`);
      for (const r of svc.fake.requests.slice(first + 1)) assert.equal(r.finished, false, 'no step after the call ran to completion');
      const messages = await getMessages(svc, id);
      assert.equal(messages[0]!.role, 'user');
      assert.deepEqual(messages[1]!.tool_calls, [{ id: 'call_h2', name: 'calculator', arguments: { expression: '2+2' } }]);
      assert.equal(messages.at(-1)!.role, 'assistant');
      assert.equal(messages.at(-1)!.interrupted, true);
    } finally {
      svc.fake.setDefault({ text: 'ok' });
    }
    // The session is free again.
    const next = await svc.chat({ message: 'again', session_id: id });
    assert.equal(next.status, 200);
  });
});

describe('POST /chat/stream keep-alive', () => {
  test('a silent agent gets `: keep-alive` comments at SSE_HEARTBEAT_MS', async () => {
    const svc = await startService({ env: { SSE_HEARTBEAT_MS: '100' } });
    try {
      svc.fake.enqueue({ text: 'slow words', chunks: ['slow words'], delayMs: 450 });
      const { events, comments, text } = await readStream(await svc.stream({ message: 'wait' }));
      assert.ok(comments.length >= 1, `no keep-alive in ${JSON.stringify(text)}`);
      assert.ok(comments.every((c) => c === 'keep-alive'));
      assert.match(text, /(^|\n\n): keep-alive\n\n/);
      assert.deepEqual(types(events), ['start', 'step_start', 'token', 'step_finish', 'end']);
      assert.equal((events.at(-1) as Ev<'end'>).reply, 'slow words');
    } finally {
      await svc.close();
    }
  });
});

describe('POST /chat/stream hang-up during a running tool', () => {
  let fake: FakeLlm;
  let svc: TestService;
  const tools = { started: 0, finished: 0 };
  before(async () => {
    fake = await startFakeLlm();
    const agent = fakeModelAgent(fake, { slow: slowTool(tools) });
    svc = await startService({ agent, fake });
  });
  after(async () => {
    await svc.close();
    await fake.close();
  });

  test('no further model step starts once the client has gone', async () => {
    fake.enqueue({ toolCalls: [{ id: 'call_slow', name: 'slow', arguments: { ms: 600 } }] }, { text: 'should never be requested' });
    const ac = new AbortController();
    const res = await svc.stream({ message: 'be slow', session_id: 'slow-tool' }, undefined, ac.signal);
    await readUntil(res, (events) => events.some((e) => e.type === 'tool_call'));
    await waitFor(() => fake.requests[0]?.finished === true, 'the model step to complete');
    ac.abort();

    await waitFor(() => tools.finished === 1, 'the tool to finish');
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    await sleep(200);
    assert.equal(tools.started, 1);
    assert.equal(fake.requests.length, 1, 'no model request after the hang-up');

    const messages = await getMessages(svc, 'slow-tool');
    assert.equal(messages[0]!.role, 'user');
    const last = messages.at(-1)!;
    assert.equal(last.role, 'assistant');
    assert.equal(last.interrupted, true);

    // The session is free again.
    fake.enqueue({ text: 'fine' });
    const next = await svc.chat({ message: 'ok?', session_id: 'slow-tool' });
    assert.equal(next.status, 200);
    // The unused queued reply answers this one; what matters is that it is a fresh request.
    assert.equal(fake.requests.length, 2);
  });
});

describe('client hang-ups on /chat and /chat/stream', () => {
  let fake: FakeLlm;
  before(async () => {
    fake = await startFakeLlm();
  });
  after(() => fake.close());

  /** `inner` with a slow claimSession (a busy database), which widens the window between the request and the run. */
  function slowClaims(inner: Storage, ms: number): Storage {
    return new Proxy(inner, {
      get(target, prop) {
        // The run's setup claims the session inside one transaction where the store has them.
        if (prop === 'atomically' && target.atomically) {
          const atomically = target.atomically.bind(target);
          return async <T>(work: (storage: Storage) => Promise<T>) => {
            await sleep(ms);
            return atomically(work);
          };
        }
        if (prop === 'claimSession') {
          return async (id: string, owner: string, token: string, until: number) => {
            await sleep(ms);
            return target.claimSession(id, owner, token, until);
          };
        }
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  }

  test('a hang-up while the turn is being set up still stops the run: no model call is made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-api-hangup-'));
    const inner = await openStore(`sqlite:${join(dir, 'x.db')}`);
    const svc = await startService({ fake, store: slowClaims(inner, 300) });
    try {
      for (const path of ['/chat/stream', '/chat']) {
        const n = fake.requests.length;
        const ac = new AbortController();
        const pending = svc.request(path, { method: 'POST', json: { message: 'hello?' }, signal: ac.signal }).catch(() => undefined);
        await sleep(100);
        ac.abort();
        await pending;
        await sleep(400);
        await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
        assert.equal(fake.requests.length, n, `${path}: the model was called for a client that had gone`);
      }
    } finally {
      await svc.close();
      await inner.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a hung-up request still writes its one request log line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const store = await openStore('sqlite::memory:');
    const config = loadConfig({ LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_MAX_RETRIES: '0' });
    const { app, runs } = await buildApp({ agent: createDefaultAgent(config), store, apiKeys: [KEY_A], logger: { level: 'info', stream } });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      for (const [path, id] of [
        ['/chat/stream', 'hangup-stream'],
        ['/chat', 'hangup-chat'],
      ] as const) {
        fake.enqueue({ text: 'x'.repeat(40), delayMs: 50 });
        const ac = new AbortController();
        const headers = { 'content-type': 'application/json', 'x-api-key': KEY_A, 'x-request-id': id };
        const done = fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify({ message: 'hi' }), signal: ac.signal })
          .then((r) => r.body?.getReader().read())
          .catch(() => undefined);
        await sleep(250);
        ac.abort();
        await done;
        await waitFor(() => runs.activeRuns === 0, 'the run to end');
      }
      await sleep(100);
      const requestLines = (id: string) => lines.filter((l) => l['request_id'] === id && l['msg'] === 'request');
      assert.equal(requestLines('hangup-stream').length, 1, JSON.stringify(lines));
      assert.equal(requestLines('hangup-stream')[0]!['status'], 200, 'the stream had started');
      assert.equal(requestLines('hangup-chat').length, 1, JSON.stringify(lines));
      assert.equal(requestLines('hangup-chat')[0]!['status'], 499, 'nobody received the /chat response');
      assert.equal(requestLines('hangup-chat')[0]!['path'], '/chat');
    } finally {
      // fetch opens a fresh connection after an abort and never uses it; only createAgentServer's close() sweeps those.
      app.server.closeAllConnections();
      await app.close();
      await store.close();
    }
  });
});
