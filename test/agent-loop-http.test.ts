/**
 * The agent loop's semantics end to end: the service on the fake OpenAI-compatible server, so the
 * provider package's HTTP client, errors and headers are real. The in-process scripted model covers
 * the same rules in detail (agent-units.test.ts); this file proves they survive the real wire.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { StreamEvent } from '../src/core/events.js';
import { parseSse, startService, type TestService } from './support/service.js';

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;
interface ChatJson {
  reply: string;
  finish_reason: string;
  tool_calls: Array<{ id: string; name: string; result: unknown }>;
}

async function withService(env: Record<string, string>, run: (svc: TestService) => Promise<void>): Promise<void> {
  const svc = await startService({ env, transport: 'inject' });
  try {
    await run(svc);
  } finally {
    await svc.close();
  }
}

async function streamEvents(svc: TestService, body: unknown): Promise<StreamEvent[]> {
  const res = await svc.stream(body);
  assert.equal(res.status, 200);
  return parseSse(await res.text()).events.map((e) => e.data);
}

describe('the agent loop over the wire', () => {
  test('a provider 429 with Retry-After: /chat answers 429 upstream_rate_limited with Retry-After; a stream gets error then end(finish_reason error)', async () => {
    await withService({ LLM_MAX_RETRIES: '0' }, async (svc) => {
      svc.fake.enqueue({ error: { status: 429, headers: { 'retry-after': '7' }, body: { error: { message: 'slow down SECRET', type: 'rate_limit' } } } });
      const res = await svc.chat({ message: 'hi' });
      const text = await res.text();
      assert.equal(res.status, 429, text);
      assert.equal(res.headers.get('retry-after'), '7');
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'upstream_rate_limited');
      assert.ok(!text.includes('SECRET'), 'the provider message is not echoed');

      svc.fake.enqueue({ error: { status: 429, headers: { 'retry-after': '7' } } });
      const events = await streamEvents(svc, { message: 'hi again' });
      const error = events.find((e): e is Ev<'error'> => e.type === 'error');
      assert.equal(error?.code, 'upstream_rate_limited');
      assert.equal(error.retry_after, 7);
      const end = events.at(-1) as Ev<'end'>;
      assert.equal(end.type, 'end');
      assert.equal(end.finish_reason, 'error');
    });
  });

  test('failed model calls before any output are retried (Retry-After honoured); the turn then succeeds', async () => {
    await withService({ LLM_MAX_RETRIES: '2' }, async (svc) => {
      svc.fake.enqueue(
        { error: { status: 500, headers: { 'retry-after': '0' } } },
        { error: { status: 503, headers: { 'retry-after-ms': '50' } } },
        { text: 'third time lucky' },
      );
      const res = await svc.chat({ message: 'try hard' });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal((JSON.parse(text) as ChatJson).reply, 'third time lucky');
      assert.equal(svc.fake.requests.length, 3);
    });
  });

  test('backoff is not the model’s silence: a retry waiting longer than LLM_TIMEOUT_MS ends upstream_error, not upstream_timeout', async () => {
    await withService({ LLM_MAX_RETRIES: '1', LLM_TIMEOUT_MS: '300' }, async (svc) => {
      svc.fake.enqueue({ error: { status: 500, headers: { 'retry-after': '1' } } }, { error: { status: 500 } });
      const started = Date.now();
      const res = await svc.chat({ message: 'fail twice' });
      const text = await res.text();
      assert.equal(res.status, 502, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'upstream_error');
      assert.equal(svc.fake.requests.length, 2);
      assert.ok(Date.now() - started >= 900, 'the retry waited for Retry-After');
    });
  });

  test('AGENT_MAX_STEPS=1 and a tool call: the tool runs and the turn ends finish_reason max_steps, never a silent stop', async () => {
    await withService({ AGENT_MAX_STEPS: '1' }, async (svc) => {
      svc.fake.enqueue({ toolCalls: [{ id: 'call_m1', name: 'calculator', arguments: { expression: '2+2' } }] });
      const res = await svc.chat({ message: 'compute' });
      const body = JSON.parse(await res.text()) as ChatJson;
      assert.equal(res.status, 200);
      assert.equal(body.finish_reason, 'max_steps');
      assert.deepEqual(body.tool_calls[0]?.result, { expression: '2+2', result: 4 });
      assert.equal(svc.fake.requests.length, 1);

      svc.fake.enqueue({ toolCalls: [{ id: 'call_m2', name: 'calculator', arguments: { expression: '3+3' } }] });
      const events = await streamEvents(svc, { message: 'compute again' });
      assert.equal((events.at(-1) as Ev<'end'>).finish_reason, 'max_steps');
    });
  });

  test('the model’s own finish reasons reach the client: length and content_filter', async () => {
    await withService({}, async (svc) => {
      svc.fake.enqueue({ text: 'cut off mid', finishReason: 'length' });
      assert.equal(((await (await svc.chat({ message: 'long' })).json()) as ChatJson).finish_reason, 'length');
      svc.fake.enqueue({ text: '', finishReason: 'content_filter' });
      const events = await streamEvents(svc, { message: 'bad' });
      assert.equal((events.at(-1) as Ev<'end'>).finish_reason, 'content_filter');
      const step = events.find((e): e is Ev<'step_finish'> => e.type === 'step_finish');
      assert.equal(step?.finish_reason, 'content_filter');
    });
  });

  test('a tool step streams step_start, argument deltas, the whole call, step_finish (with its usage), then the result; steps count up', async () => {
    await withService({}, async (svc) => {
      svc.fake.enqueue({ toolCalls: [{ id: 'call_d1', name: 'calculator', arguments: { expression: '6*7' } }] }, { text: 'It is 42.' });
      const events = await streamEvents(svc, { message: 'What is 6*7?' });
      const deltas = events.filter((e): e is Ev<'tool_call_delta'> => e.type === 'tool_call_delta');
      assert.ok(deltas.length >= 2, 'the fake sends the arguments in two pieces');
      assert.ok(deltas.every((d) => d.id === 'call_d1' && d.name === 'calculator'));
      assert.deepEqual(JSON.parse(deltas.map((d) => d.arguments_delta).join('')), { expression: '6*7' });
      const kinds = events.map((e) => e.type).filter((t, i, a) => t !== a[i - 1]);
      assert.deepEqual(kinds, [
        'start',
        'step_start',
        'tool_call_delta',
        'tool_call',
        'step_finish',
        'tool_result',
        'step_start',
        'token',
        'step_finish',
        'end',
      ]);
      const steps = events.filter((e): e is Ev<'step_start'> => e.type === 'step_start').map((e) => e.step);
      assert.deepEqual(steps, [1, 2]);
      const finishes = events.filter((e): e is Ev<'step_finish'> => e.type === 'step_finish');
      assert.deepEqual(
        finishes.map((f) => f.finish_reason),
        ['tool_calls', 'stop'],
      );
      const end = events.at(-1) as Ev<'end'>;
      assert.equal(end.usage.total_tokens, finishes[0]!.usage.total_tokens + finishes[1]!.usage.total_tokens, 'the turn’s usage is the sum of its steps');
    });
  });

  test('two tool calls in one step both run, and their results come back in call order', async () => {
    await withService({}, async (svc) => {
      svc.fake.enqueue(
        {
          toolCalls: [
            { id: 'call_p1', name: 'calculator', arguments: { expression: '1+1' } },
            { id: 'call_p2', name: 'calculator', arguments: { expression: '2+2' } },
          ],
        },
        { text: 'Both done.' },
      );
      const body = JSON.parse(await (await svc.chat({ message: 'two at once' })).text()) as ChatJson;
      assert.deepEqual(
        body.tool_calls.map((c) => [c.id, c.result]),
        [
          ['call_p1', { expression: '1+1', result: 2 }],
          ['call_p2', { expression: '2+2', result: 4 }],
        ],
      );
      const second = svc.fake.requests[1]!.body.messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id);
      assert.deepEqual(second, ['call_p1', 'call_p2']);
    });
  });

  test('arguments that fail the tool’s schema become an error result the model reads; the loop goes on', async () => {
    await withService({}, async (svc) => {
      svc.fake.enqueue({ toolCalls: [{ id: 'call_bad', name: 'calculator', arguments: { expr: 'oops' } }] }, { text: 'Let me fix that.' });
      const body = JSON.parse(await (await svc.chat({ message: 'bad args' })).text()) as ChatJson;
      const result = body.tool_calls[0]?.result as { error?: string };
      assert.match(result.error ?? '', /Invalid arguments for calculator/);
      const sent = svc.fake.requests[1]!.body.messages.find((m) => m.role === 'tool');
      assert.match(sent?.content ?? '', /Invalid arguments for calculator/);
      assert.equal(body.reply, 'Let me fix that.');
    });
  });
});
