/**
 * The TypeScript client (src/client) against the real service on loopback and the fake model:
 * chat, streaming (tool events included), sessions, every error class, aborts and a custom fetch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StreamEvent } from '../src/core/events.js';
import {
  AgentApiError,
  AgentClient,
  AuthenticationError,
  NetworkError,
  NotConfiguredError,
  NotFoundError,
  SessionBusyError,
  UpstreamError,
  ValidationError,
} from '../src/client/index.js';
import { freePort } from './support/child-service.js';
import { KEY_A, KEY_B, startService, type TestService } from './support/service.js';

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;

const KEY_LIST = 'test-key-client-list';

async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const types = (events: StreamEvent[]) => events.map((e) => e.type);
const tokens = (events: StreamEvent[]) =>
  events
    .filter((e): e is Ev<'token'> => e.type === 'token')
    .map((e) => e.content)
    .join('');

/** `assert.rejects` with a class check, returning the error for further assertions. */
async function rejectsWith<T extends Error>(promise: Promise<unknown>, cls: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
    return err;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

/** The URL a fetch was called with, whichever form it came in. */
function urlOf(input: RequestInfo | URL): string {
  if (typeof input === 'string') return input;
  return input instanceof URL ? input.href : input.url;
}

/** A fetch answering with a fixed Response (after recording the call). */
function fixedFetch(make: () => Response, calls: Array<{ url: string; init: RequestInit | undefined }> = []): typeof fetch {
  return (input, init) => {
    calls.push({ url: urlOf(input), init });
    return Promise.resolve(make());
  };
}

function sseResponse(chunks: string[], end: 'close' | 'error' = 'close'): Response {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const c of chunks) controller.enqueue(enc.encode(c));
      if (end === 'close') controller.close();
      else controller.error(new TypeError('terminated'));
    },
  });
  return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream', 'x-request-id': 'req-cut-1' } });
}

describe('AgentClient', () => {
  let svc: TestService;
  let client: AgentClient;
  before(async () => {
    svc = await startService({ env: { VALID_API_KEYS: [KEY_A, KEY_B, KEY_LIST].join(',') } });
    client = new AgentClient({ baseUrl: svc.url, apiKey: KEY_A });
  });
  after(() => svc.close());

  test('chat() returns the whole reply', async () => {
    svc.fake.enqueue({ text: 'Hello there', usage: { prompt_tokens: 7, completion_tokens: 3 } });
    const reply = await client.chat('hi');
    assert.equal(reply.reply, 'Hello there');
    assert.match(reply.session_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(reply.tool_calls, []);
    assert.deepEqual(reply.usage, { input_tokens: 7, output_tokens: 3, total_tokens: 10 });
  });

  test('chat() with a tool call', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_c0', name: 'calculator', arguments: { expression: '2+2' } }] }, { text: 'Four.' });
    const reply = await client.chat('2+2?');
    assert.equal(reply.reply, 'Four.');
    assert.deepEqual(reply.tool_calls, [{ id: 'call_c0', name: 'calculator', arguments: { expression: '2+2' }, result: { expression: '2+2', result: 4 } }]);
  });

  test('stream() yields start → tool_call → tool_result → tokens → end', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_c1', name: 'calculator', arguments: { expression: '6*7' } }] }, { text: 'It is 42, as computed.' });
    // Steps and argument pieces are checked elsewhere; here, what a chat UI shows.
    const events = (await collect(client.stream('6*7?'))).filter((e) => !['step_start', 'step_finish', 'tool_call_delta'].includes(e.type));
    const kinds = types(events);
    assert.equal(kinds[0], 'start');
    assert.equal(kinds.at(-1), 'end');
    assert.deepEqual(kinds.slice(1, 3), ['tool_call', 'tool_result']);
    assert.ok(kinds.slice(3, -1).length >= 2 && kinds.slice(3, -1).every((k) => k === 'token'), kinds.join(','));
    assert.deepEqual(events[1], { type: 'tool_call', id: 'call_c1', name: 'calculator', arguments: { expression: '6*7' } });
    assert.deepEqual(events[2], { type: 'tool_result', id: 'call_c1', name: 'calculator', result: { expression: '6*7', result: 42 } });
    const start = events[0] as Ev<'start'>;
    const end = events.at(-1) as Ev<'end'>;
    assert.equal(end.session_id, start.session_id);
    assert.equal(end.reply, 'It is 42, as computed.');
    assert.equal(tokens(events), end.reply);
  });

  test('sessionId continues a session, across chat() and stream()', async () => {
    svc.fake.enqueue({ text: 'Nice to meet you, Ada.' });
    const first = await client.chat('My name is Ada.');
    const before = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'You are Ada.' });
    const events = await collect(client.stream('Who am I?', { sessionId: first.session_id }));
    const start = events[0] as Ev<'start'>;
    assert.match(start.run_id, /^run_/);
    assert.deepEqual(events[0], { type: 'start', session_id: first.session_id, run_id: start.run_id });
    assert.equal((events.at(-1) as Ev<'end'>).session_id, first.session_id);
    const sent = JSON.stringify(svc.fake.requests[before]!.body.messages);
    assert.ok(sent.includes('My name is Ada.') && sent.includes('Nice to meet you, Ada.'), sent);

    svc.fake.enqueue({ text: 'Still Ada.' });
    const third = await client.chat('And now?', { sessionId: first.session_id });
    assert.equal(third.session_id, first.session_id);
    const detail = await client.sessions.get(first.session_id);
    assert.deepEqual(
      detail.messages.map((m) => [m.role, m.role === 'tool' ? undefined : m.content]),
      [
        ['user', 'My name is Ada.'],
        ['assistant', 'Nice to meet you, Ada.'],
        ['user', 'Who am I?'],
        ['assistant', 'You are Ada.'],
        ['user', 'And now?'],
        ['assistant', 'Still Ada.'],
      ],
    );
  });

  test('sessions.list / get / delete (ids URL-encoded, paging)', async () => {
    const lister = new AgentClient({ baseUrl: svc.url + '/', apiKey: KEY_LIST });
    assert.deepEqual(await lister.sessions.list(), { sessions: [], next_before: null });
    const ids = ['client:one.1', 'client-two_2'];
    for (const id of ids) {
      svc.fake.enqueue({ toolCalls: [{ id: `call_${id}`, name: 'calculator', arguments: { expression: '1+1' } }] }, { text: `reply for ${id}` });
      await lister.chat(`hello ${id}`, { sessionId: id });
    }
    const page1 = await lister.sessions.list({ limit: 1 });
    assert.equal(page1.sessions.length, 1);
    assert.equal(page1.sessions[0]!.id, 'client-two_2', 'most recent first');
    assert.ok(page1.next_before);
    const page2 = await lister.sessions.list({ limit: 1, before: page1.next_before });
    assert.equal(page2.sessions[0]!.id, 'client:one.1');
    const all = await lister.sessions.list();
    assert.deepEqual(all.sessions.map((s) => s.id).sort(), [...ids].sort());
    assert.equal(all.next_before, null);
    const summary = all.sessions.find((s) => s.id === 'client:one.1')!;
    assert.equal(summary.message_count, 4);
    assert.equal(typeof summary.created_at, 'string');

    const detail = await lister.sessions.get('client:one.1');
    assert.equal(detail.id, 'client:one.1');
    assert.deepEqual(
      detail.messages.map((m) => m.role),
      ['user', 'assistant', 'tool', 'assistant'],
    );
    const [, call, result] = detail.messages;
    assert.ok(call?.role === 'assistant' && result?.role === 'tool');
    assert.deepEqual(call.tool_calls, [{ id: 'call_client:one.1', name: 'calculator', arguments: { expression: '1+1' } }]);
    assert.equal(result.tool_call_id, 'call_client:one.1');
    assert.deepEqual(result.result, { expression: '1+1', result: 2 });
    const firstTwo = await lister.sessions.get('client:one.1', { limit: 2 });
    assert.equal(firstTwo.messages.length, 2);
    assert.ok(firstTwo.next_after !== null);
    const rest = await lister.sessions.get('client:one.1', { after: firstTwo.next_after });
    assert.deepEqual(
      rest.messages.map((m) => m.role),
      ['tool', 'assistant'],
    );

    assert.equal(await lister.sessions.delete('client:one.1'), undefined);
    const gone = await rejectsWith(lister.sessions.get('client:one.1'), NotFoundError);
    assert.equal(gone.code, 'session_not_found');
    assert.equal(gone.status, 404);
    await rejectsWith(lister.sessions.delete('client:one.1'), NotFoundError);
    assert.deepEqual(
      (await lister.sessions.list()).sessions.map((s) => s.id),
      ['client-two_2'],
    );
  });

  test('AuthenticationError for an unknown key', async () => {
    const bad = new AgentClient({ baseUrl: svc.url, apiKey: 'not-a-key' });
    const err = await rejectsWith(bad.chat('hi'), AuthenticationError);
    assert.ok(err instanceof AgentApiError);
    assert.equal(err.name, 'AuthenticationError');
    assert.equal(err.code, 'unauthorized');
    assert.equal(err.status, 401);
    assert.match(err.message, /unknown key/);
    assert.ok(err.requestId && err.requestId.length > 0);
    await rejectsWith(bad.sessions.list(), AuthenticationError);
    const viaStream = await rejectsWith(collect(bad.stream('hi')), AuthenticationError);
    assert.equal(viaStream.code, 'unauthorized');
  });

  test('ValidationError names the field', async () => {
    const err = await rejectsWith(client.chat('x'.repeat(5001)), ValidationError);
    assert.equal(err.code, 'validation_error');
    assert.equal(err.status, 400);
    assert.ok(err.requestId);
    assert.ok(Array.isArray(err.details));
    assert.ok(
      (err.details as Array<{ field: string }>).some((d) => d.field === 'body.message'),
      JSON.stringify(err.details),
    );
    await rejectsWith(collect(client.stream('   ')), ValidationError);
    await rejectsWith(client.chat('hi', { sessionId: 'bad id with spaces' }), ValidationError);
  });

  test("NotFoundError for another key's session and for a deleted one; the other key may use the id for its own", async () => {
    svc.fake.enqueue({ text: 'mine' });
    const { session_id } = await client.chat('private');
    const other = new AgentClient({ baseUrl: svc.url, apiKey: KEY_B });
    const err = await rejectsWith(other.sessions.get(session_id), NotFoundError);
    assert.equal(err.code, 'session_not_found');
    await rejectsWith(other.sessions.delete(session_id), NotFoundError);
    svc.fake.enqueue({ text: 'theirs' });
    assert.equal((await other.chat('my own', { sessionId: session_id })).session_id, session_id);
    assert.equal((await other.sessions.get(session_id)).title, 'my own');
    assert.equal((await client.sessions.get(session_id)).title, 'private');
    await client.sessions.delete(session_id);
    await rejectsWith(client.sessions.get(session_id), NotFoundError);
  });

  test('NotFoundError route_not_found for a wrong base path', async () => {
    const lost = new AgentClient({ baseUrl: `${svc.url}/nowhere`, apiKey: KEY_A });
    const err = await rejectsWith(lost.sessions.list(), NotFoundError);
    assert.equal(err.code, 'route_not_found');
  });

  test('SessionBusyError while a stream runs on the session', async () => {
    const id = 'client-busy';
    svc.fake.enqueue({ text: 'slow slow slow slow', delayMs: 100 });
    const events: StreamEvent[] = [];
    const iterator: AsyncIterator<StreamEvent, unknown> = client.stream('take your time', { sessionId: id })[Symbol.asyncIterator]();
    for (;;) {
      const { done, value } = await iterator.next();
      assert.ok(!done, 'ended early');
      events.push(value);
      if (value.type === 'token') break;
    }
    const err = await rejectsWith(client.chat('me too', { sessionId: id }), SessionBusyError);
    assert.equal(err.code, 'session_busy');
    assert.equal(err.status, 409);
    await rejectsWith(collect(client.stream('me too', { sessionId: id })), SessionBusyError);
    for (;;) {
      const { done, value } = await iterator.next();
      if (done) break;
      events.push(value);
    }
    assert.equal((events.at(-1) as Ev<'end'>).reply, 'slow slow slow slow');
  });

  test('UpstreamError: chat() throws it; stream() yields error then end, or throws with throwOnError', async () => {
    svc.fake.enqueue({ error: { status: 500 } });
    const err = await rejectsWith(client.chat('fail'), UpstreamError);
    assert.equal(err.code, 'upstream_error');
    assert.equal(err.status, 502);
    assert.ok(err.requestId);

    svc.fake.enqueue({ error: { status: 500 } });
    const events = await collect(client.stream('fail'));
    assert.deepEqual(types(events), ['start', 'step_start', 'error', 'end']);
    assert.equal((events[2] as Ev<'error'>).code, 'upstream_error');

    // Text and a tool step first, then the model fails: what came before the error is yielded.
    svc.fake.enqueue({ text: 'Checking. ', toolCalls: [{ id: 'call_f', name: 'calculator', arguments: { expression: '1+1' } }] }, { error: { status: 500 } });
    const seen: StreamEvent[] = [];
    const thrown = await rejectsWith(
      (async () => {
        for await (const e of client.stream('fail again', { throwOnError: true })) seen.push(e);
      })(),
      UpstreamError,
    );
    assert.equal(thrown.code, 'upstream_error');
    assert.equal(thrown.status, 502);
    assert.ok(thrown.requestId);
    assert.deepEqual(types(seen).slice(-3), ['step_finish', 'tool_result', 'step_start'], 'the second step began, then failed');
    assert.equal(tokens(seen), 'Checking. ');
    assert.ok(!types(seen).includes('error') && !types(seen).includes('end'), types(seen).join(','));
  });

  test('an abort mid-stream ends iteration with an AbortError and hangs up on the model', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'z'.repeat(80), delayMs: 150 }); // 20 chunks, 3 s
    const ac = new AbortController();
    const seen: StreamEvent[] = [];
    await assert.rejects(
      (async () => {
        for await (const e of client.stream('talk', { signal: ac.signal })) {
          seen.push(e);
          if (e.type === 'token') ac.abort();
        }
      })(),
      (err: Error) => {
        assert.equal(err.name, 'AbortError');
        assert.ok(!(err instanceof AgentApiError));
        return true;
      },
    );
    assert.equal(seen.filter((e) => e.type === 'token').length, 1, 'nothing after the abort');
    await svc.fake.waitForAbort(first);
    assert.equal(svc.fake.requests[first]!.finished, false);
  });

  test('an abort while waiting for the next event, and one before the request', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'slow words here', chunks: ['slow ', 'words ', 'here'], delayMs: 400 });
    const ac = new AbortController();
    const reason = new DOMException('user pressed stop', 'AbortError');
    const started = Date.now();
    await assert.rejects(
      (async () => {
        for await (const e of client.stream('talk', { signal: ac.signal })) {
          if (e.type === 'start') setTimeout(() => ac.abort(reason), 50);
        }
      })(),
      (err: unknown) => err === reason,
    );
    assert.ok(Date.now() - started < 1000, 'the abort did not wait for the next event');
    await svc.fake.waitForAbort(first);

    const pre = new AbortController();
    pre.abort();
    await assert.rejects(client.chat('never sent', { signal: pre.signal }), (err: Error) => err.name === 'AbortError');
    await assert.rejects(collect(client.stream('never sent', { signal: pre.signal })), (err: Error) => err.name === 'AbortError');
    await assert.rejects(client.sessions.list({ signal: pre.signal }), (err: Error) => err.name === 'AbortError');
  });

  test('leaving the loop early hangs up on the model too', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'y'.repeat(80), delayMs: 150 });
    for await (const e of client.stream('talk')) if (e.type === 'token') break;
    await svc.fake.waitForAbort(first);
  });

  test('NetworkError when nothing listens at baseUrl', async () => {
    const port = await freePort();
    const offline = new AgentClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: KEY_A });
    const err = await rejectsWith(offline.chat('hello?'), NetworkError);
    assert.equal(err.status, 0);
    assert.equal(err.code, 'network_error');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    assert.match(err.message, /ECONNREFUSED/);
    await rejectsWith(collect(offline.stream('hello?')), NetworkError);
    await rejectsWith(offline.sessions.list(), NetworkError);
  });

  test('a custom fetch is used: a body cut mid-stream gives NetworkError', async () => {
    const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
    const cut = new AgentClient({
      baseUrl: 'http://agent.invalid',
      apiKey: 'k-custom',
      fetch: fixedFetch(
        () =>
          sseResponse(['id: 1\ndata: {"type":"start","session_id":"s-1"}\n\nid: 2\ndata: {"type":"token","content":"Hel"}\n\n', 'id: 3\ndata: {"type":"tok']),
        calls,
      ),
    });
    const seen: StreamEvent[] = [];
    const err = await rejectsWith(
      (async () => {
        for await (const e of cut.stream('hi', { sessionId: 'a b/c' })) seen.push(e);
      })(),
      NetworkError,
    );
    assert.deepEqual(types(seen), ['start', 'token']);
    assert.equal(err.requestId, 'req-cut-1');
    assert.match(err.message, /end event/);

    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.url, 'http://agent.invalid/chat/stream');
    assert.equal(calls[0]!.init?.method, 'POST');
    const headers = new Headers(calls[0]!.init?.headers);
    assert.equal(headers.get('x-api-key'), 'k-custom');
    assert.equal(headers.get('accept'), 'text/event-stream');
    assert.equal(headers.get('content-type'), 'application/json');
    const sentBody = calls[0]!.init?.body;
    assert.ok(typeof sentBody === 'string', 'the body is sent as a JSON string');
    assert.deepEqual(JSON.parse(sentBody), { message: 'hi', session_id: 'a b/c' });

    // A connection reset mid-body (the body stream errors) is a NetworkError too.
    const reset = new AgentClient({ baseUrl: '', apiKey: 'k', fetch: fixedFetch(() => sseResponse(['data: {"type":"start","session_id":"s"}\n\n'], 'error')) });
    const resetErr = await rejectsWith(collect(reset.stream('hi')), NetworkError);
    assert.match(resetErr.message, /terminated/);
  });

  test('a custom fetch that rejects gives NetworkError; relative URLs with baseUrl ""', async () => {
    const calls: string[] = [];
    const failing = new AgentClient({
      baseUrl: '',
      apiKey: 'k',
      fetch: (input) => {
        calls.push(urlOf(input));
        return Promise.reject(new TypeError('Failed to fetch'));
      },
    });
    const err = await rejectsWith(failing.sessions.get('a/b c'), NetworkError);
    assert.match(err.message, /Failed to fetch/);
    assert.deepEqual(calls, ['/sessions/a%2Fb%20c']);
  });

  test('answers not in our error shape still map to typed errors', async () => {
    const html = (status: number, headers: Record<string, string> = {}) =>
      new AgentClient({
        baseUrl: '',
        apiKey: 'k',
        fetch: fixedFetch(() => new Response('<html>Bad Gateway</html>', { status, headers: { 'content-type': 'text/html', ...headers } })),
      });
    const bad = await rejectsWith(html(502, { 'x-request-id': 'lb-1' }).chat('hi'), UpstreamError);
    assert.equal(bad.status, 502);
    assert.equal(bad.code, 'upstream_error');
    assert.equal(bad.requestId, 'lb-1');
    assert.match(bad.message, /502.*Bad Gateway/);
    const unavailable = await rejectsWith(html(503).chat('hi'), AgentApiError);
    assert.ok(!(unavailable instanceof NotConfiguredError));
    assert.equal(unavailable.status, 503);
    await rejectsWith(html(401).chat('hi'), AuthenticationError);
    await rejectsWith(html(413).chat('hi'), ValidationError);
    await rejectsWith(html(409).chat('hi'), SessionBusyError);

    // A 200 that is not an event stream (a captive portal, a misrouted proxy).
    const notSse = await rejectsWith(collect(html(200).stream('hi')), AgentApiError);
    assert.equal(notSse.code, 'invalid_response');
  });
});

describe('AgentClient against an unconfigured service', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ noModel: true });
  });
  after(() => svc.close());

  test('NotConfiguredError from chat() and stream()', async () => {
    const client = new AgentClient({ baseUrl: svc.url, apiKey: KEY_A });
    const err = await rejectsWith(client.chat('hi'), NotConfiguredError);
    assert.equal(err.code, 'model_not_configured');
    assert.equal(err.status, 503);
    assert.ok(err.requestId);
    await rejectsWith(collect(client.stream('hi')), NotConfiguredError);
    // Sessions still work without a model.
    assert.deepEqual((await client.sessions.list()).sessions, []);
  });
});
