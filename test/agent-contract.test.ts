/**
 * The Agent contract (src/agent/agent.ts) as createAgent keeps it over a real provider: the
 * OpenAI-compatible client talking HTTP to the fake model. What the scripted-model units cannot
 * show: that the provider's parts, errors and headers reach the loop as it expects.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { tool } from 'ai';
import { z } from 'zod';
import { createAgent, type Agent, type AgentRunInput } from '../src/agent/agent.js';
import { AgentError } from '../src/agent/agent-error.js';
import { createChatModel } from '../src/agent/chat-model.js';
import type { AgentEvent } from '../src/core/events.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake.close());

const add = tool({ description: 'Add two numbers', inputSchema: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b });

function agentOnFake(options: Parameters<typeof createAgent>[0] = {}): Agent {
  return createAgent({ model: createChatModel({ baseURL: fake.url, model: 'fake-model' }), tools: { add }, ...options });
}

/** Runs to the end; anything thrown but an AgentError fails the test. */
async function collect(agent: Agent, input: Partial<AgentRunInput> = {}): Promise<{ events: AgentEvent[]; error: AgentError | undefined }> {
  const events: AgentEvent[] = [];
  try {
    for await (const event of agent.run({ history: [], message: 'hi', signal: new AbortController().signal, ...input })) events.push(event);
    return { events, error: undefined };
  } catch (error) {
    assert.ok(error instanceof AgentError, `the run throws AgentError, got ${String(error)}`);
    return { events, error };
  }
}

describe('createAgent: run()', () => {
  test('with an already-aborted signal it throws AgentError(aborted) and calls no model', async () => {
    const agent = createAgent({ model: createChatModel({ baseURL: fake.url, model: 'fake-model' }), maxRetries: 0 });
    const before = fake.requests.length;
    await assert.rejects(
      async () => {
        for await (const _ of agent.run({ history: [], message: 'hi', signal: AbortSignal.abort(new Error('gone')) })) {
          /* nothing */
        }
      },
      (err: unknown) => err instanceof AgentError && err.code === 'aborted',
    );
    assert.equal(fake.requests.length, before);
  });

  test('a streamed tool call: argument deltas, the call, step_finish, the result, and the result goes back to the model', async () => {
    fake.enqueue({ toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 2, b: 3 } }] }, { text: 'It is 5.' });
    const before = fake.requests.length;
    const { events, error } = await collect(agentOnFake());
    assert.equal(error, undefined);
    const firstStep = events.slice(0, events.findIndex((e) => e.type === 'step_finish') + 1);
    assert.deepEqual(
      [...new Set(firstStep.map((e) => e.type))],
      ['step_start', 'tool_call_delta', 'tool_call', 'step_finish'],
      'deltas come before the call, all inside the step',
    );
    const deltas = firstStep.flatMap((e) => (e.type === 'tool_call_delta' ? [e] : []));
    assert.ok(deltas.length >= 2, 'the fake streams the arguments in pieces');
    assert.ok(deltas.every((d) => d.id === 'c1' && d.name === 'add'));
    assert.deepEqual(JSON.parse(deltas.map((d) => d.arguments_delta).join('')), { a: 2, b: 3 });
    assert.deepEqual(events[firstStep.length], { type: 'tool_result', id: 'c1', name: 'add', result: 5 });
    const last = events.at(-1);
    assert.equal(last?.type === 'finish' && last.finish_reason, 'stop');

    const second = fake.requests[before + 1]?.body.messages;
    assert.deepEqual(second?.at(-2)?.tool_calls, [{ id: 'c1', type: 'function', function: { name: 'add', arguments: '{"a":2,"b":3}' } }]);
    assert.deepEqual({ ...second?.at(-1) }, { role: 'tool', tool_call_id: 'c1', content: '5' });
  });

  test("the provider's finish_reason length and content_filter end the turn with length / content_filter", async () => {
    for (const [finishReason, expected] of [
      ['length', 'length'],
      ['content_filter', 'content_filter'],
    ] as const) {
      fake.enqueue({ text: 'Cut short', finishReason });
      const { events, error } = await collect(agentOnFake());
      assert.equal(error, undefined);
      const last = events.at(-1);
      assert.equal(last?.type === 'finish' && last.finish_reason, expected, finishReason);
    }
  });

  test('client tools reach the provider as functions with their JSON Schema; calling one ends the turn with tool_calls', async () => {
    const parameters = { type: 'object', properties: { precise: { type: 'boolean' } } } as const;
    fake.enqueue({ toolCalls: [{ id: 'loc', name: 'get_location', arguments: { precise: true } }] });
    const before = fake.requests.length;
    const { events, error } = await collect(agentOnFake(), { clientTools: [{ name: 'get_location', description: 'Where the user is', parameters }] });
    assert.equal(error, undefined);
    const offered = fake.requests[before]?.body.tools?.find((t) => t.function.name === 'get_location');
    assert.equal(offered?.function.description, 'Where the user is');
    assert.deepEqual(offered.function.parameters, parameters);
    assert.deepEqual(
      events.filter((e) => e.type === 'tool_call' || e.type === 'tool_result'),
      [{ type: 'tool_call', id: 'loc', name: 'get_location', arguments: { precise: true } }],
    );
    const last = events.at(-1);
    assert.equal(last?.type === 'finish' && last.finish_reason, 'tool_calls');
    assert.equal(fake.requests.length, before + 1);
  });

  test('a 503 with retry-after-ms is retried after that wait', async () => {
    fake.enqueue({ error: { status: 503, headers: { 'retry-after-ms': '50' } } }, { text: 'second try' });
    const before = fake.requests.length;
    const started = performance.now();
    const { events, error } = await collect(agentOnFake({ maxRetries: 1, retryDelayMs: 10_000 }));
    assert.equal(error, undefined);
    assert.equal(events.flatMap((e) => (e.type === 'token' ? [e.content] : [])).join(''), 'second try');
    assert.equal(fake.requests.length, before + 2);
    const ms = performance.now() - started;
    assert.ok(ms >= 45 && ms < 4000, `waited the provider's 50 ms, not retryDelayMs (${Math.round(ms)} ms)`);
  });

  test('a 429 asking for more than maxRetryAfterMs fails at once: upstream_rate_limited with retryAfter in seconds', async () => {
    fake.enqueue({ error: { status: 429, headers: { 'retry-after': '120' } } });
    const before = fake.requests.length;
    const { error } = await collect(agentOnFake({ maxRetries: 2 }));
    assert.equal(error?.code, 'upstream_rate_limited');
    assert.equal(error.retryAfter, 120);
    assert.equal(fake.requests.length, before + 1, 'not retried');
  });

  test('aborting mid-stream hangs up the HTTP request', async () => {
    fake.enqueue({ text: 'a long answer in many pieces', delayMs: 50 });
    const before = fake.requests.length;
    const controller = new AbortController();
    const events: AgentEvent[] = [];
    await assert.rejects(
      async () => {
        for await (const event of agentOnFake().run({ history: [], message: 'hi', signal: controller.signal })) {
          events.push(event);
          if (event.type === 'token') controller.abort();
        }
      },
      (err: unknown) => err instanceof AgentError && err.code === 'aborted',
    );
    await fake.waitForAbort(before);
    assert.equal(fake.requests[before]?.aborted, true);
    assert.equal(events.filter((e) => e.type === 'token').length, 1);
  });
});
