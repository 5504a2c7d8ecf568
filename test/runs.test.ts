/**
 * Runs that outlive the request, in one process: every turn is a run with a numbered event log
 * that can be read again, resumed after a given event, cancelled, or started in the background.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { StreamEvent } from '../src/core/events.js';
import type { Run } from '../src/core/runs.js';
import { KEY_A, KEY_B, parseSse, readChunks, startService, waitFor, type TestService } from './support/service.js';

let svc: TestService;
before(async () => {
  svc = await startService({ env: { RUN_EVENTS_TTL_S: '600' } });
});
after(() => svc.close());

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;

async function getRun(id: string, key = KEY_A): Promise<{ status: number; run: Run }> {
  const res = await svc.request(`/runs/${id}`, { key });
  return { status: res.status, run: (await res.json()) as Run };
}

async function events(path: string, headers: Record<string, string> = {}) {
  const res = await svc.request(path, { headers });
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  return parseSse(await res.text()).events;
}

/** Reads a stream until `n` events have arrived, then drops the connection. */
async function readThenDrop(res: Response, n: number): Promise<Array<{ id: string | undefined; data: StreamEvent }>> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (parseSse(text.slice(0, text.lastIndexOf('\n\n') + 2)).events.length < n) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return parseSse(text.slice(0, text.lastIndexOf('\n\n') + 2)).events;
}

describe('runs: every turn is a run', () => {
  test('POST /chat answers with run_id; GET /runs/{id} has the same reply, tool calls and usage; another key gets 404', async () => {
    svc.fake.enqueue(
      { toolCalls: [{ id: 'call_r1', name: 'calculator', arguments: { expression: '2*21' } }] },
      { text: 'It is 42.', usage: { prompt_tokens: 9, completion_tokens: 4 } },
    );
    const res = await svc.chat({ message: 'What is 2*21?' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { reply: string; run_id: string; session_id: string; tool_calls: unknown[]; usage: unknown };
    const { status, run } = await getRun(body.run_id);
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(run).sort(), [
      'created_at',
      'error',
      'finish_reason',
      'finished_at',
      'id',
      'reply',
      'session_id',
      'started_at',
      'status',
      'tool_calls',
      'usage',
    ]);
    assert.equal(run.status, 'completed');
    assert.equal(run.finish_reason, 'stop');
    assert.equal(run.error, null);
    assert.equal(run.id, body.run_id);
    assert.equal(run.session_id, body.session_id);
    assert.equal(run.reply, body.reply);
    assert.deepEqual(run.tool_calls, body.tool_calls);
    assert.deepEqual(run.usage, body.usage);
    assert.ok(run.started_at && run.finished_at && run.created_at <= run.finished_at);
    assert.equal((await getRun(body.run_id, KEY_B)).status, 404);
    assert.equal((await getRun('run_nope')).status, 404);
  });

  test('GET /runs/{id}/events replays a finished run exactly as it streamed, ids included, and resumes after Last-Event-ID or ?after', async () => {
    svc.fake.enqueue({ text: 'one two three', chunks: ['one', ' two', ' three'] });
    const streamed = parseSse(await (await svc.stream({ message: 'count' })).text()).events;
    const start = streamed[0]!.data as Ev<'start'>;
    const replay = await events(`/runs/${start.run_id}/events`);
    assert.deepEqual(replay, streamed);
    assert.deepEqual(
      replay.map((e) => e.id),
      replay.map((_, i) => String(i + 1)),
    );
    assert.deepEqual(await events(`/runs/${start.run_id}/events`, { 'last-event-id': '2' }), streamed.slice(2));
    assert.deepEqual(await events(`/runs/${start.run_id}/events?after=3`), streamed.slice(3));
    const bad = await svc.request(`/runs/${start.run_id}/events`, { headers: { 'last-event-id': 'x' } });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'validation_error');
    assert.equal((await svc.request(`/runs/${start.run_id}/events`, { key: KEY_B })).status, 404);
  });

  test('on_disconnect "continue": a dropped stream leaves the run going, and resuming gives exactly the missing events', async () => {
    const chunks = Array.from({ length: 12 }, (_, i) => `w${i} `);
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 30 });
    const n = svc.fake.requests.length;
    const first = await readThenDrop(await svc.stream({ message: 'talk', on_disconnect: 'continue' }), 3);
    const runId = (first[0]!.data as Ev<'start'>).run_id;
    const lastId = first.at(-1)!.id!;
    const rest = await events(`/runs/${runId}/events`, { 'last-event-id': lastId });
    const all = [...first, ...rest];
    assert.deepEqual(
      all.map((e) => e.id),
      all.map((_, i) => String(i + 1)),
      'no duplicate, no gap',
    );
    assert.equal(all.at(-1)!.data.type, 'end');
    assert.equal((all.at(-1)!.data as Ev<'end'>).reply, chunks.join(''));
    assert.equal(svc.fake.requests[n]!.aborted, false, 'the model was not cut off');
    assert.equal((await getRun(runId)).run.status, 'completed');
  });

  test('on_disconnect "cancel" (the default): a hang-up cancels the run; its record says so and keeps the partial reply', async () => {
    svc.fake.enqueue({ text: 'a b c d e f g h', chunks: ['a ', 'b ', 'c ', 'd ', 'e ', 'f ', 'g ', 'h'], delayMs: 80 });
    const n = svc.fake.requests.length;
    const first = await readThenDrop(await svc.stream({ message: 'talk' }), 4);
    const runId = (first[0]!.data as Ev<'start'>).run_id;
    await svc.fake.waitForAbort(n);
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    const { run } = await getRun(runId);
    assert.equal(run.status, 'cancelled');
    assert.equal(run.error?.code, 'cancelled');
    assert.ok(run.reply.startsWith('a b'), run.reply);
  });

  test('POST /runs runs in the background: 202 at once, then the result in GET /runs/{id}; its events replay', async () => {
    svc.fake.enqueue({ text: 'background done', delayMs: 20 });
    const res = await svc.request('/runs', { method: 'POST', json: { message: 'do it later' } });
    assert.equal(res.status, 202);
    const created = (await res.json()) as { run_id: string; session_id: string; status: string };
    assert.equal(created.status, 'running');
    assert.match(created.run_id, /^run_/);
    let run: Run | undefined;
    for (let i = 0; i < 100; i++) {
      run = (await getRun(created.run_id)).run;
      if (run.status !== 'running') break;
      await sleep(20);
    }
    assert.equal(run?.status, 'completed');
    assert.equal(run.reply, 'background done');
    assert.equal(run.session_id, created.session_id);
    const replay = await events(`/runs/${created.run_id}/events`);
    assert.deepEqual(
      replay.map((e) => e.data.type).filter((t, i, a) => t !== a[i - 1]),
      ['start', 'step_start', 'token', 'step_finish', 'end'],
    );
  });

  test('cancel: 202 with the run, the model sees the hang-up, followers get error "cancelled" then end; again: 200', async () => {
    svc.fake.enqueue({ text: 'slow slow slow slow slow', chunks: ['slow ', 'slow ', 'slow ', 'slow ', 'slow'], delayMs: 200 });
    const n = svc.fake.requests.length;
    const created = (await (await svc.request('/runs', { method: 'POST', json: { message: 'take your time' } })).json()) as { run_id: string };
    await svc.fake.waitForRequests(n + 1);
    const following = svc.request(`/runs/${created.run_id}/events`).then(async (r) => parseSse(await r.text()).events);
    await sleep(50);
    const cancelled = await svc.request(`/runs/${created.run_id}/cancel`, { method: 'POST' });
    assert.equal(cancelled.status, 202);
    assert.equal(((await cancelled.json()) as Run).id, created.run_id);
    await svc.fake.waitForAbort(n, 1000);
    const seen = await following;
    const tail = seen.slice(-2).map((e) => e.data);
    assert.deepEqual(tail[0], { type: 'error', code: 'cancelled', message: 'The run was cancelled' });
    assert.equal(tail[1]?.type, 'end');
    const { run } = await getRun(created.run_id);
    assert.equal(run.status, 'cancelled');
    const again = await svc.request(`/runs/${created.run_id}/cancel`, { method: 'POST' });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as Run).status, 'cancelled');
    assert.equal((await svc.request(`/runs/${created.run_id}/cancel`, { method: 'POST', key: KEY_B })).status, 404);
  });

  test('while a run answers: the session shows active_run_id, another message is 409 with Retry-After and details.active_run_id', async () => {
    svc.fake.enqueue({ text: 'busy busy', chunks: ['busy ', 'busy'], delayMs: 150 });
    const created = (await (await svc.request('/runs', { method: 'POST', json: { message: 'first', session_id: 'runs-busy' } })).json()) as { run_id: string };
    const session = (await (await svc.request('/sessions/runs-busy')).json()) as { active_run_id: string | null };
    assert.equal(session.active_run_id, created.run_id);
    const busy = await svc.chat({ message: 'second', session_id: 'runs-busy' });
    assert.equal(busy.status, 409);
    assert.equal(busy.headers.get('retry-after'), '1');
    const error = ((await busy.json()) as { error: { code: string; message: string; details: { active_run_id: string } } }).error;
    assert.equal(error.code, 'session_busy');
    assert.equal(error.details.active_run_id, created.run_id);
    assert.match(error.message, new RegExp(created.run_id));
    await readChunks(await svc.request(`/runs/${created.run_id}/events`));
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    const after = (await (await svc.request('/sessions/runs-busy')).json()) as { active_run_id: string | null };
    assert.equal(after.active_run_id, null);
  });

  test("GET /sessions/{id}/runs lists a session's runs newest first, paginated; another key gets 404", async () => {
    const ids: string[] = [];
    for (const text of ['r1', 'r2', 'r3']) {
      svc.fake.enqueue({ text });
      ids.push(((await (await svc.chat({ message: text, session_id: 'runs-list' })).json()) as { run_id: string }).run_id);
    }
    const page1 = (await (await svc.request('/sessions/runs-list/runs?limit=2')).json()) as { runs: Run[]; next_before: string | null };
    assert.deepEqual(
      page1.runs.map((r) => r.id),
      [ids[2], ids[1]],
    );
    assert.ok(page1.next_before);
    const page2 = (await (await svc.request(`/sessions/runs-list/runs?limit=2&before=${encodeURIComponent(page1.next_before)}`)).json()) as {
      runs: Run[];
      next_before: string | null;
    };
    assert.deepEqual(
      page2.runs.map((r) => r.id),
      [ids[0]],
    );
    assert.equal(page2.next_before, null);
    assert.equal((await svc.request('/sessions/runs-list/runs', { key: KEY_B })).status, 404);
  });
});

describe('runs: the event log expires', () => {
  test('after RUN_EVENTS_TTL_S the events are gone: 410 run_events_expired; the run record stays', async () => {
    const short = await startService({ env: { RUN_EVENTS_TTL_S: '1' } });
    try {
      short.fake.enqueue({ text: 'soon gone' });
      const { run_id } = (await (await short.chat({ message: 'hello' })).json()) as { run_id: string };
      assert.equal((await short.request(`/runs/${run_id}/events`)).status, 200);
      let res: Response | undefined;
      for (let i = 0; i < 60; i++) {
        await sleep(100);
        res = await short.request(`/runs/${run_id}/events`);
        if (res.status !== 200) break;
        await res.body?.cancel();
      }
      assert.equal(res?.status, 410);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'run_events_expired');
      const run = (await (await short.request(`/runs/${run_id}`)).json()) as Run;
      assert.equal(run.status, 'completed');
    } finally {
      await short.close();
    }
  });
});
