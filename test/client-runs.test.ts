/**
 * The client's runs (src/client/runs.ts) against the real service on loopback and the fake model:
 * create, get, cancel, list, following a run's events (replayed and live), resuming by itself after
 * the connection drops, and the typed errors that are never retried.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import {
  AgentClient,
  NetworkError,
  NotFoundError,
  RunEventsExpiredError,
  type Run,
  type RunEvent,
  type RunEventsOptions,
  type StreamEvent,
} from '../src/client/index.js';
import { freePort } from './support/child-service.js';
import { KEY_A, KEY_B, startService, type TestService } from './support/service.js';

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;

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

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const replyOf = (events: RunEvent[]) =>
  events
    .map((e) => e.event)
    .filter((e): e is Ev<'token'> => e.type === 'token')
    .map((e) => e.content)
    .join('');

/** Ids 1..n in order: nothing was missed and nothing came twice. */
function assertWhole(events: RunEvent[]): void {
  assert.deepEqual(
    events.map((e) => e.id),
    events.map((_, i) => i + 1),
    'no duplicate, no gap',
  );
  assert.equal(events[0]?.event.type, 'start');
  assert.equal(events.at(-1)?.event.type, 'end');
}

function urlOf(input: RequestInfo | URL): string {
  if (typeof input === 'string') return input;
  return input instanceof URL ? input.href : input.url;
}

interface Call {
  url: string;
  headers: Headers;
  body: unknown;
}

/** globalThis.fetch, recording each call; `change` may replace the response of a call. */
function recordingFetch(calls: Call[], change: (res: Response, call: Call, index: number) => Response = (res) => res): typeof fetch {
  return async (input, init) => {
    const call = {
      url: urlOf(input),
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined,
    };
    calls.push(call);
    return change(await fetch(input, init), call, calls.length - 1);
  };
}

/** The response with its body cut after `reads` network reads, as a reset connection does. */
function cutAfter(res: Response, reads: number): Response {
  const reader = res.body!.getReader();
  let n = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (n++ >= reads) {
        await reader.cancel();
        controller.error(new TypeError('terminated'));
        return;
      }
      const { done, value } = await reader.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: res.status, headers: res.headers });
}

/** A fetch answering every call with an event stream that sends `start` (id 1) and is then cut. */
function cutStreamFetch(calls: Call[]): typeof fetch {
  return (input, init) => {
    calls.push({ url: urlOf(input), headers: new Headers(init?.headers), body: undefined });
    const enc = new TextEncoder();
    let reads = 0;
    // From pull, one read after the other: an error in start() would discard what was enqueued.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (reads++ === 0) controller.enqueue(enc.encode('id: 1\ndata: {"type":"start","session_id":"s","run_id":"run_x"}\n\n'));
        else controller.error(new TypeError('terminated'));
      },
    });
    return Promise.resolve(new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream' } }));
  };
}

const FAST_RETRY: RunEventsOptions = { retryDelayMs: 1 };

describe('AgentClient runs', () => {
  let svc: TestService;
  let client: AgentClient;
  before(async () => {
    svc = await startService();
    client = new AgentClient({ baseUrl: svc.url, apiKey: KEY_A });
  });
  after(() => svc.close());

  async function finished(id: string): Promise<Run> {
    let run = await client.runs.get(id);
    for (let i = 0; i < 250 && (run.status === 'running' || run.status === 'queued'); i++) {
      await sleep(20);
      run = await client.runs.get(id);
    }
    return run;
  }

  test('create() starts a background run; get() has its outcome; events() replays it, from the start or after an id', async () => {
    svc.fake.enqueue(
      { toolCalls: [{ id: 'call_cr1', name: 'calculator', arguments: { expression: '6*7' } }] },
      { text: 'It is 42.', chunks: ['It ', 'is ', '42.'] },
    );
    const created = await client.runs.create('What is 6*7?', { sessionId: 'client-runs-create' });
    assert.equal(created.status, 'running');
    assert.equal(created.session_id, 'client-runs-create');
    assert.match(created.run_id, /^run_/);

    const run = await finished(created.run_id);
    assert.equal(run.id, created.run_id);
    assert.equal(run.status, 'completed');
    assert.equal(run.session_id, 'client-runs-create');
    assert.equal(run.reply, 'It is 42.');
    assert.equal(run.error, null);
    assert.deepEqual(run.tool_calls, [{ id: 'call_cr1', name: 'calculator', arguments: { expression: '6*7' }, result: { expression: '6*7', result: 42 } }]);

    const events = await collect(client.runs.events(created.run_id));
    assertWhole(events);
    assert.deepEqual(events[0]!.event, { type: 'start', session_id: 'client-runs-create', run_id: created.run_id });
    assert.deepEqual(
      events.map((e) => e.event.type),
      [
        'start',
        'step_start',
        'tool_call_delta',
        'tool_call_delta',
        'tool_call',
        'step_finish',
        'tool_result',
        'step_start',
        'token',
        'token',
        'token',
        'step_finish',
        'end',
      ],
    );
    assert.equal(replyOf(events), 'It is 42.');
    assert.equal((events.at(-1)!.event as Ev<'end'>).reply, 'It is 42.');

    assert.deepEqual(await collect(client.runs.events(created.run_id, { after: 3 })), events.slice(3));
  });

  test('list() pages through a session’s runs, newest first', async () => {
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) {
      svc.fake.enqueue({ text });
      ids.push((await client.chat(text, { sessionId: 'client-runs-list' })).run_id);
    }
    const page1 = await client.runs.list('client-runs-list', { limit: 2 });
    assert.deepEqual(
      page1.runs.map((r) => r.id),
      [ids[2], ids[1]],
    );
    assert.deepEqual(
      page1.runs.map((r) => r.reply),
      ['three', 'two'],
    );
    assert.ok(page1.next_before);
    const page2 = await client.runs.list('client-runs-list', { limit: 2, before: page1.next_before });
    assert.deepEqual(
      page2.runs.map((r) => r.id),
      [ids[0]],
    );
    assert.equal(page2.next_before, null);
    const err = await rejectsWith(client.runs.list('client-runs-nowhere'), NotFoundError);
    assert.equal(err.code, 'session_not_found');
  });

  test('cancel() stops a running run (its followers get error "cancelled" then end); again, it answers the ended run', async () => {
    svc.fake.enqueue({ text: 'slow slow slow slow slow', chunks: ['slow ', 'slow ', 'slow ', 'slow ', 'slow'], delayMs: 200 });
    const n = svc.fake.requests.length;
    const { run_id } = await client.runs.create('take your time');
    await svc.fake.waitForRequests(n + 1);
    const following = collect(client.runs.events(run_id));
    const asked = await client.runs.cancel(run_id);
    assert.equal(asked.id, run_id);
    assert.equal(asked.status, 'running', 'the run as it was when asked');
    await svc.fake.waitForAbort(n);
    const events = await following;
    assertWhole(events);
    assert.deepEqual(events.at(-2)!.event, { type: 'error', code: 'cancelled', message: 'The run was cancelled' });
    assert.equal((await client.runs.get(run_id)).status, 'cancelled');
    const again = await client.runs.cancel(run_id);
    assert.equal(again.status, 'cancelled');
    assert.equal(again.error?.code, 'cancelled');
  });

  test('events() resumes by itself when the body is cut mid-run: Last-Event-ID, no duplicate, no gap', async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => `w${i} `);
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 80 }); // 1.6 s: still running when cut
    const calls: Call[] = [];
    const cutting = new AgentClient({
      baseUrl: svc.url,
      apiKey: KEY_A,
      // Only the first follow is cut, after a few reads: mid-run, maybe mid-event.
      fetch: recordingFetch(calls, (res, call) =>
        call.url.endsWith('/events') && calls.filter((c) => c.url.endsWith('/events')).length === 1 ? cutAfter(res, 3) : res,
      ),
    });
    const { run_id } = await cutting.runs.create('talk');
    const events = await collect(cutting.runs.events(run_id, FAST_RETRY));
    assertWhole(events);
    assert.equal(replyOf(events), chunks.join(''));
    assert.equal((events.at(-1)!.event as Ev<'end'>).reply, chunks.join(''));

    const follows = calls.filter((c) => c.url.endsWith('/events'));
    assert.equal(follows.length, 2, 'one reconnection');
    assert.equal(follows[0]!.headers.get('last-event-id'), null);
    const resumedAfter = Number(follows[1]!.headers.get('last-event-id'));
    assert.ok(resumedAfter >= 1 && resumedAfter < events.length - 1, `resumed mid-run, after ${resumedAfter}`);
    assert.equal(follows[1]!.headers.get('accept'), 'text/event-stream');
    assert.equal((await cutting.runs.get(run_id)).status, 'completed', 'following never touched the run');
  });

  test('events() resumes by itself when the server drops every connection mid-run', async () => {
    const chunks = Array.from({ length: 20 }, (_, i) => `x${i} `);
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 80 }); // 1.6 s: still running when dropped
    const n = svc.fake.requests.length;
    const calls: Call[] = [];
    const watched = new AgentClient({ baseUrl: svc.url, apiKey: KEY_A, fetch: recordingFetch(calls) });
    const { run_id } = await watched.runs.create('talk');
    const events: RunEvent[] = [];
    let dropped = 0;
    for await (const e of watched.runs.events(run_id, FAST_RETRY)) {
      events.push(e);
      if (e.event.type === 'token' && dropped === 0) {
        dropped = e.id;
        svc.server.app.server.closeAllConnections();
      }
    }
    assert.ok(dropped > 0);
    assertWhole(events);
    assert.equal(replyOf(events), chunks.join(''));
    const follows = calls.filter((c) => c.url.endsWith('/events'));
    assert.ok(follows.length >= 2, `reconnected (${follows.length} follows)`);
    assert.ok(Number(follows.at(-1)!.headers.get('last-event-id')) >= dropped);
    assert.equal(svc.fake.requests[n]!.aborted, false, 'the model was not cut off');
  });

  test('chat()/stream() send on_disconnect; a stream left with "continue" is finished through runs.events(after: events seen)', async () => {
    const calls: Call[] = [];
    const recorded = new AgentClient({ baseUrl: svc.url, apiKey: KEY_A, fetch: recordingFetch(calls) });
    svc.fake.enqueue({ text: 'whole' });
    const reply = await recorded.chat('hi', { onDisconnect: 'cancel' });
    assert.match(reply.run_id, /^run_/);
    assert.deepEqual(calls[0]!.body, { message: 'hi', on_disconnect: 'cancel' });
    assert.equal((await recorded.runs.get(reply.run_id)).reply, 'whole');

    const chunks = Array.from({ length: 10 }, (_, i) => `c${i} `);
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 30 });
    const n = svc.fake.requests.length;
    const seen: StreamEvent[] = [];
    for await (const e of recorded.stream('talk', { onDisconnect: 'continue', sessionId: 'client-runs-continue' })) {
      seen.push(e);
      if (seen.length === 3) break; // hangs up
    }
    assert.deepEqual(calls.at(-1)!.body, { message: 'talk', session_id: 'client-runs-continue', on_disconnect: 'continue' });
    const start = seen[0] as Ev<'start'>;
    const rest = await collect(recorded.runs.events(start.run_id, { after: seen.length }));
    assert.equal(rest[0]!.id, 4);
    assert.equal(
      [...seen, ...rest.map((e) => e.event)]
        .filter((e): e is Ev<'token'> => e.type === 'token')
        .map((e) => e.content)
        .join(''),
      chunks.join(''),
    );
    assert.equal(svc.fake.requests[n]!.aborted, false, 'the run went on without its client');
    assert.equal((await recorded.runs.get(start.run_id)).status, 'completed');
  });

  test('events() after the last event of a finished run (or past it) ends at once with nothing, without retrying', async () => {
    svc.fake.enqueue({ text: 'all said' });
    const { run_id } = await client.chat('say it');
    const all = await collect(client.runs.events(run_id));
    assertWhole(all);
    const last = all.at(-1)!.id;
    for (const after of [last, last + 5]) {
      const calls: Call[] = [];
      const recorded = new AgentClient({ baseUrl: svc.url, apiKey: KEY_A, fetch: recordingFetch(calls) });
      const started = Date.now();
      assert.deepEqual(await collect(recorded.runs.events(run_id, { after })), []);
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 2000, `after ${after}: took ${elapsed} ms`);
      assert.deepEqual(
        calls.map((c) => new URL(c.url).pathname),
        [`/runs/${run_id}/events`, `/runs/${run_id}`],
        'one follow, then the run: it is over, so no reconnection',
      );
    }
  });

  test('events() on a finished run whose stream is cut before its first event still reconnects and replays it all', async () => {
    svc.fake.enqueue({ text: 'replayed whole' });
    const { run_id } = await client.chat('say it again');
    const calls: Call[] = [];
    const cutting = new AgentClient({
      baseUrl: svc.url,
      apiKey: KEY_A,
      fetch: recordingFetch(calls, (res, call) =>
        call.url.endsWith('/events') && calls.filter((c) => c.url.endsWith('/events')).length === 1 ? cutAfter(res, 0) : res,
      ),
    });
    const events = await collect(cutting.runs.events(run_id, FAST_RETRY));
    assertWhole(events);
    assert.equal(replyOf(events), 'replayed whole');
    assert.equal(calls.filter((c) => c.url.endsWith('/events')).length, 2, 'a cut is reconnected, even though the run is over');
  });

  test('no such run: NotFoundError run_not_found from get, cancel and events, never retried; another key’s run is not found', async () => {
    const calls: Call[] = [];
    const recorded = new AgentClient({ baseUrl: svc.url, apiKey: KEY_A, fetch: recordingFetch(calls) });
    const err = await rejectsWith(collect(recorded.runs.events('run_nope', FAST_RETRY)), NotFoundError);
    assert.equal(err.code, 'run_not_found');
    assert.equal(err.status, 404);
    assert.ok(!(err instanceof RunEventsExpiredError));
    assert.equal(calls.length, 1, 'an HTTP error answer is not retried');
    assert.equal((await rejectsWith(recorded.runs.get('run_nope'), NotFoundError)).code, 'run_not_found');
    assert.equal((await rejectsWith(recorded.runs.cancel('run_nope'), NotFoundError)).code, 'run_not_found');

    svc.fake.enqueue({ text: 'mine' });
    const { run_id } = await client.chat('private');
    const other = new AgentClient({ baseUrl: svc.url, apiKey: KEY_B });
    await rejectsWith(other.runs.get(run_id), NotFoundError);
    await rejectsWith(other.runs.cancel(run_id), NotFoundError);
    await rejectsWith(collect(other.runs.events(run_id)), NotFoundError);
  });

  test('a connection that keeps dropping: retried maxRetries times in a row, then NetworkError; no event twice', async () => {
    const calls: Call[] = [];
    const flaky = new AgentClient({ baseUrl: 'http://agent.invalid', apiKey: 'k', fetch: cutStreamFetch(calls) });
    const seen: RunEvent[] = [];
    const err = await rejectsWith(
      (async () => {
        for await (const e of flaky.runs.events('run_x', { maxRetries: 2, retryDelayMs: 1 })) seen.push(e);
      })(),
      NetworkError,
    );
    assert.match(err.message, /terminated/);
    assert.deepEqual(
      seen.map((e) => e.id),
      [1],
    );
    assert.deepEqual(
      calls.map((c) => c.headers.get('last-event-id')),
      [null, '1', '1'],
    );
    assert.equal(calls[0]!.url, 'http://agent.invalid/runs/run_x/events');
  });

  test('nothing listening: retried, then NetworkError; an abort during the pause between tries ends it at once', async () => {
    const port = await freePort();
    const offline = new AgentClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: KEY_A });
    const err = await rejectsWith(collect(offline.runs.events('run_x', { maxRetries: 1, retryDelayMs: 1 })), NetworkError);
    assert.match(err.message, /ECONNREFUSED/);

    const ac = new AbortController();
    const reason = new DOMException('stop', 'AbortError');
    const started = Date.now();
    setTimeout(() => ac.abort(reason), 50);
    await assert.rejects(collect(offline.runs.events('run_x', { retryDelayMs: 60_000, signal: ac.signal })), (e: unknown) => e === reason);
    assert.ok(Date.now() - started < 5000, 'the pause did not outlast the abort');
  });
});

describe('AgentClient runs: expired event logs', () => {
  test('RunEventsExpiredError (410 run_events_expired, a NotFoundError), never retried; get() still has the run', async () => {
    const short = await startService({ env: { RUN_EVENTS_TTL_S: '1' } });
    try {
      const calls: Call[] = [];
      const client = new AgentClient({ baseUrl: short.url, apiKey: KEY_A, fetch: recordingFetch(calls) });
      short.fake.enqueue({ text: 'soon gone' });
      const { run_id } = await client.chat('hello');
      assert.equal(replyOf(await collect(client.runs.events(run_id))), 'soon gone');
      let err: unknown;
      for (let i = 0; i < 100 && err === undefined; i++) {
        await sleep(100);
        const before = calls.length;
        try {
          await collect(client.runs.events(run_id, FAST_RETRY));
        } catch (e) {
          err = e;
          assert.equal(calls.length, before + 1, 'an HTTP error answer is not retried');
        }
      }
      assert.ok(err instanceof RunEventsExpiredError, String(err));
      assert.ok(err instanceof NotFoundError);
      assert.equal(err.name, 'RunEventsExpiredError');
      assert.equal(err.code, 'run_events_expired');
      assert.equal(err.status, 410);
      const run = await client.runs.get(run_id);
      assert.equal(run.status, 'completed');
      assert.equal(run.reply, 'soon gone');
    } finally {
      await short.close();
    }
  });
});
