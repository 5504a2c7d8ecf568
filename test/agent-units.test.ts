/**
 * Units of the agent core: the calculator's expression evaluator, the transcript that folds run
 * events into persisted messages, the history window sent to the model, the retry policy, and
 * `createAgent`'s tool loop driven by an in-process scripted model (test/support/scripted-model.ts). No HTTP here: the
 * provider mapping over real HTTP is covered with fake-llm.ts by the service tests.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { tool } from 'ai';
import { z } from 'zod';
import { AgentError } from '../src/agent/agent-error.js';
import { createAgent, DEFAULT_INSTRUCTIONS, type Agent, type AgentOptions } from '../src/agent/agent.js';
import type { AgentEvent, FinishReason, StepFinishReason } from '../src/core/events.js';
import { toModelMessages, trimHistory } from '../src/agent/history.js';
import type { ClientTool } from '../src/agent/prepare-tools.js';
import { retryAfterMs, retryDelay, type RetryPolicy } from '../src/agent/retry-policy.js';
import { toAgentError } from '../src/agent/to-agent-error.js';
import type { ChatMessage } from '../src/core/messages.js';
import { evaluateExpression, ExpressionError } from '../src/agent/tools/evaluate-expression.js';
import { Transcript } from '../src/agent/transcript.js';
import { httpError, scriptedModel, type ScriptedModel, type ScriptedReply } from './support/scripted-model.js';

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-12, `${actual} ≈ ${expected}`);

function rejects(src: string, pattern?: RegExp): void {
  assert.throws(
    () => evaluateExpression(src),
    (err: unknown) => {
      assert.ok(err instanceof ExpressionError, `${JSON.stringify(src)} throws an ExpressionError, got ${String(err)}`);
      if (pattern) assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('evaluateExpression', () => {
  test('precedence and associativity', () => {
    assert.equal(evaluateExpression('2+3*4'), 14);
    assert.equal(evaluateExpression('(2+3)*4'), 20);
    assert.equal(evaluateExpression('10-4-3'), 3); // left-assoc
    assert.equal(evaluateExpression('100/10/5'), 2); // left-assoc
    assert.equal(evaluateExpression('7 % 4 * 2'), 6);
    assert.equal(evaluateExpression('2*3^2'), 18); // power binds tighter than *
    assert.equal(evaluateExpression('  1 +\t2 \n'), 3);
    assert.equal(evaluateExpression('1.5e2 + .5'), 150.5);
  });

  test('power is right-associative and ** is an alias', () => {
    assert.equal(evaluateExpression('2^3^2'), 512);
    assert.equal(evaluateExpression('2**3**2'), 512);
    assert.equal(evaluateExpression('(2^3)^2'), 64);
  });

  test('unary minus binds looser than power on its left, tighter in the exponent', () => {
    assert.equal(evaluateExpression('-2^2'), -4);
    assert.equal(evaluateExpression('(-2)^2'), 4);
    assert.equal(evaluateExpression('2^-1'), 0.5);
    assert.equal(evaluateExpression('2^-2^2'), 2 ** -4);
    assert.equal(evaluateExpression('--3'), 3);
    assert.equal(evaluateExpression('+-+3'), -3);
    assert.equal(evaluateExpression('3*-2'), -6);
  });

  test('functions and constants', () => {
    assert.equal(evaluateExpression('sqrt(16)'), 4);
    assert.equal(evaluateExpression('(12.5 * 4) / sqrt(16)'), 12.5);
    close(evaluateExpression('pi'), Math.PI);
    close(evaluateExpression('e'), Math.E);
    close(evaluateExpression('tau'), 2 * Math.PI);
    close(evaluateExpression('PI'), Math.PI); // names are case-insensitive
    assert.equal(evaluateExpression('max(1, 5, 3)'), 5);
    assert.equal(evaluateExpression('min(4, -2)'), -2);
    assert.equal(evaluateExpression('pow(2, 10)'), 1024);
    assert.equal(evaluateExpression('log(1000)'), 3);
    close(evaluateExpression('log(8, 2)'), 3);
    assert.equal(evaluateExpression('log2(8)'), 3);
    close(evaluateExpression('ln(e)'), 1);
    assert.equal(evaluateExpression('abs(-3) + round(2.5) + floor(2.7) + ceil(2.1)'), 3 + 3 + 2 + 3);
    close(evaluateExpression('sin(pi/2)'), 1);
    assert.equal(evaluateExpression('cbrt(27)'), 3);
  });

  test('errors: division by zero, unknown names, arity, non-finite results', () => {
    rejects('1/0', /division by zero/i);
    rejects('5 % (2-2)', /division by zero/i);
    rejects('foo(2)', /unknown name 'foo'/i);
    rejects('x + 1', /unknown name 'x'/i);
    rejects('pow(2)', /pow\(\) takes 2 argument/);
    rejects('sqrt(1, 2)', /sqrt\(\) takes 1 argument/);
    rejects('sqrt', /expected '\('/i);
    rejects('10^400', /not a finite number/i);
    rejects('sqrt(-1)', /not a finite number/i);
  });

  test('errors: malformed input', () => {
    rejects('(1+2', /expected '\)'/i);
    rejects('1+2)', /unexpected '\)'/i);
    rejects('((1)', /expected '\)'/i);
    rejects('', /empty/i);
    rejects('   ', /empty/i);
    rejects('1+', /end of expression/i);
    rejects('*2');
    rejects('2 3');
    rejects('1,2');
    rejects(`1${'+1'.repeat(500)}`, /longer than 1000/); // 1001 characters
    rejects(`${'('.repeat(200)}1${')'.repeat(200)}`, /nested too deeply/i);
    rejects(`${'-'.repeat(200)}1`, /nested too deeply/i);
  });

  test('a length at the limit is accepted', () => {
    const src = `1${'+1'.repeat(499)} `; // exactly 1000 characters
    assert.equal(src.length, 1000);
    assert.equal(evaluateExpression(src), 500);
  });

  test('code never runs: JavaScript syntax and object internals are rejected', (t) => {
    // The mock is restored when the test ends.
    const exit = t.mock.method(process, 'exit', (() => {}) as typeof process.exit);
    for (const src of [
      'process.exit()',
      'process.exit(1)',
      'constructor',
      'constructor.constructor("return 1")()',
      '__proto__',
      'toString',
      'valueOf()',
      'hasOwnProperty',
      '1;2',
      'eval("1")',
      'Function("return 1")()',
      'this',
      'globalThis',
      '[1]',
      '"1"',
      "'1'",
      '1 == 1',
      'a = 1',
      '`1`',
      '1 ? 2 : 3',
      '0x10',
      '1_000',
    ]) {
      rejects(src);
    }
    assert.equal(exit.mock.callCount(), 0);
  });
});

describe('Transcript', () => {
  const tok = (content: string): AgentEvent => ({ type: 'token', content });
  const call = (id: string, name = 'calculator', args: unknown = { expression: '1+1' }): AgentEvent => ({ type: 'tool_call', id, name, arguments: args });
  const result = (id: string, value: unknown, name = 'calculator'): AgentEvent => ({ type: 'tool_result', id, name, result: value });

  /** Feeds events and collects every message handed out, as the turn runner persists them. */
  function fold(events: AgentEvent[], interrupted = false): { messages: ChatMessage[]; reply: string; handedOutAt: number[] } {
    const t = new Transcript();
    const messages: ChatMessage[] = [];
    const handedOutAt: number[] = [];
    events.forEach((e, i) => {
      const out = t.add(e);
      for (const _ of out) handedOutAt.push(i);
      messages.push(...out);
    });
    messages.push(...t.finish(interrupted));
    return { messages, reply: t.reply, handedOutAt };
  }

  test('plain text becomes one assistant message, handed out at finish', () => {
    const { messages, reply, handedOutAt } = fold([
      tok('Hel'),
      tok('lo'),
      { type: 'finish', usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 }, finish_reason: 'stop' },
    ]);
    assert.deepEqual(messages, [{ role: 'assistant', content: 'Hello' }]);
    assert.equal(reply, 'Hello');
    assert.deepEqual(handedOutAt, []); // nothing complete until finish
  });

  test('a nothing-said clean finish persists nothing', () => {
    assert.deepEqual(fold([]).messages, []);
  });

  test('tool step: call, result, then the next step text', () => {
    const { messages, reply, handedOutAt } = fold([
      tok('Let me compute. '),
      call('c1', 'calculator', { expression: '2+3*4' }),
      result('c1', { expression: '2+3*4', result: 14 }),
      tok('It is '),
      tok('14.'),
    ]);
    assert.deepEqual(messages, [
      { role: 'assistant', content: 'Let me compute. ', tool_calls: [{ id: 'c1', name: 'calculator', arguments: { expression: '2+3*4' } }] },
      { role: 'tool', tool_call_id: 'c1', name: 'calculator', result: { expression: '2+3*4', result: 14 } },
      { role: 'assistant', content: 'It is 14.' },
    ]);
    assert.equal(reply, 'Let me compute. It is 14.');
    // The assistant message and the tool result are handed out as soon as the result arrives.
    assert.deepEqual(handedOutAt, [2, 2]);
  });

  test('text after a tool call in the same step stays in that message, so the tool answer follows its call', () => {
    const { messages } = fold([call('c1'), tok('Checking.'), result('c1', { expression: '1+1', result: 2 }), tok('2')]);
    assert.deepEqual(messages, [
      { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'c1', name: 'calculator', arguments: { expression: '1+1' } }] },
      { role: 'tool', tool_call_id: 'c1', name: 'calculator', result: { expression: '1+1', result: 2 } },
      { role: 'assistant', content: '2' },
    ]);
  });

  test('parallel tool calls share one assistant message, each result its own tool message', () => {
    const { messages } = fold([
      call('a', 'calculator', { expression: '1+1' }),
      call('b', 'current_time', { timezone: 'UTC' }),
      result('b', { timezone: 'UTC' }, 'current_time'),
      result('a', { expression: '1+1', result: 2 }),
      tok('Done'),
    ]);
    assert.deepEqual(messages, [
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          { id: 'a', name: 'calculator', arguments: { expression: '1+1' } },
          { id: 'b', name: 'current_time', arguments: { timezone: 'UTC' } },
        ],
      },
      { role: 'tool', tool_call_id: 'b', name: 'current_time', result: { timezone: 'UTC' } },
      { role: 'tool', tool_call_id: 'a', name: 'calculator', result: { expression: '1+1', result: 2 } },
      { role: 'assistant', content: 'Done' },
    ]);
  });

  test('consecutive tool steps without text in between', () => {
    const { messages, reply } = fold([call('a'), result('a', 2), call('b'), result('b', 3)]);
    assert.deepEqual(
      messages.map((m) => m.role),
      ['assistant', 'tool', 'assistant', 'tool'],
    );
    assert.equal(reply, '');
  });

  test('interrupted mid-reply keeps the partial text with the marker', () => {
    const { messages, reply } = fold([tok('Partial '), tok('answ')], true);
    assert.deepEqual(messages, [{ role: 'assistant', content: 'Partial answ', interrupted: true }]);
    assert.equal(reply, 'Partial answ');
  });

  test('interrupted before anything was said still records the marker', () => {
    assert.deepEqual(fold([], true).messages, [{ role: 'assistant', content: '', interrupted: true }]);
  });

  test('interrupted while a tool runs keeps the unanswered call on the marked message', () => {
    const { messages } = fold([tok('Checking'), call('c1')], true);
    assert.deepEqual(messages, [
      { role: 'assistant', content: 'Checking', tool_calls: [{ id: 'c1', name: 'calculator', arguments: { expression: '1+1' } }], interrupted: true },
    ]);
  });

  test('interrupted after a tool result adds an empty marked assistant message', () => {
    const { messages } = fold([call('c1'), result('c1', 2)], true);
    assert.deepEqual(messages.at(-1), { role: 'assistant', content: '', interrupted: true });
    assert.equal(messages.length, 3);
  });
});

describe('trimHistory', () => {
  const turn = (n: number): ChatMessage[] => [
    { role: 'user', content: `q${n}` },
    { role: 'assistant', content: `a${n}` },
  ];
  const toolTurn = (n: number): ChatMessage[] => [
    { role: 'user', content: `q${n}` },
    { role: 'assistant', content: '', tool_calls: [{ id: `t${n}`, name: 'calculator', arguments: { expression: '1' } }] },
    { role: 'tool', tool_call_id: `t${n}`, name: 'calculator', result: { expression: '1', result: 1 } },
    { role: 'assistant', content: `a${n}` },
  ];

  test('keeps everything under the limit', () => {
    const h = [...turn(1), ...turn(2)];
    assert.deepEqual(trimHistory(h, 10), h);
    assert.deepEqual(trimHistory([], 10), []);
  });

  test('keeps at most limit messages, the most recent ones', () => {
    const h = [...turn(1), ...turn(2), ...turn(3)];
    assert.deepEqual(trimHistory(h, 2), turn(3));
    assert.deepEqual(trimHistory(h, 4), [...turn(2), ...turn(3)]);
  });

  test('the window always starts at a user message', () => {
    const h = [...turn(1), ...turn(2), ...turn(3)];
    assert.deepEqual(trimHistory(h, 3), turn(3)); // would start at a1
    const t = [...toolTurn(1), ...toolTurn(2)];
    for (let limit = 1; limit <= t.length; limit++) {
      const w = trimHistory(t, limit);
      assert.ok(w.length <= limit);
      if (w.length) assert.equal(w[0]!.role, 'user', `limit ${limit} starts at a user message`);
    }
    // Cutting inside the tool turn drops the dangling tool message and its assistant.
    assert.deepEqual(trimHistory(t, 6), toolTurn(2));
    assert.deepEqual(trimHistory(t, 3), []);
  });

  test('a zero or negative limit sends no history', () => {
    assert.deepEqual(trimHistory([...turn(1)], 0), []);
    assert.deepEqual(trimHistory([...turn(1)], -1), []);
  });
});

describe('toModelMessages', () => {
  test('maps users, assistants with calls and tool results to model messages', () => {
    const out = toModelMessages([
      { role: 'user', content: 'what is 2+3*4?' },
      { role: 'assistant', content: 'Computing.', tool_calls: [{ id: 'c1', name: 'calculator', arguments: { expression: '2+3*4' } }] },
      { role: 'tool', tool_call_id: 'c1', name: 'calculator', result: { expression: '2+3*4', result: 14 } },
      { role: 'assistant', content: '14' },
    ]);
    assert.deepEqual(out, [
      { role: 'user', content: [{ type: 'text', text: 'what is 2+3*4?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Computing.' },
          { type: 'tool-call', toolCallId: 'c1', toolName: 'calculator', input: { expression: '2+3*4' } },
        ],
      },
      {
        role: 'tool',
        content: [{ type: 'tool-result', toolCallId: 'c1', toolName: 'calculator', output: { type: 'json', value: { expression: '2+3*4', result: 14 } } }],
      },
      { role: 'assistant', content: [{ type: 'text', text: '14' }] },
    ]);
  });

  test('unanswered tool calls are dropped; an assistant left empty is dropped entirely', () => {
    const out = toModelMessages([
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'lost', name: 'calculator', arguments: {} }], interrupted: true },
      { role: 'user', content: 'q2' },
      {
        role: 'assistant',
        content: 'Two calls',
        tool_calls: [
          { id: 'ok', name: 'calculator', arguments: { expression: '1' } },
          { id: 'gone', name: 'calculator', arguments: { expression: '2' } },
        ],
      },
      { role: 'tool', tool_call_id: 'ok', name: 'calculator', result: 1 },
      { role: 'assistant', content: '', interrupted: true },
    ]);
    assert.deepEqual(out, [
      { role: 'user', content: [{ type: 'text', text: 'q1' }] },
      { role: 'user', content: [{ type: 'text', text: 'q2' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Two calls' },
          { type: 'tool-call', toolCallId: 'ok', toolName: 'calculator', input: { expression: '1' } },
        ],
      },
      { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'ok', toolName: 'calculator', output: { type: 'json', value: 1 } }] },
    ]);
    const calls = out.flatMap((m) => (m.role === 'assistant' && Array.isArray(m.content) ? m.content.filter((p) => p.type === 'tool-call') : []));
    assert.ok(calls.every((c) => c.type === 'tool-call' && c.toolCallId === 'ok'));
  });

  test('an interrupted partial reply still reaches the model as text', () => {
    const out = toModelMessages([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'Partial', interrupted: true },
    ]);
    assert.deepEqual(out[1], { role: 'assistant', content: [{ type: 'text', text: 'Partial' }] });
  });

  test('results of one step go back as one tool message, in the order stored', () => {
    const out = toModelMessages([
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: '',
        tool_calls: [
          { id: 'a', name: 'calculator', arguments: { expression: '1' } },
          { id: 'b', name: 'get_location', arguments: {} },
        ],
      },
      { role: 'tool', tool_call_id: 'a', name: 'calculator', result: 1 },
      { role: 'tool', tool_call_id: 'b', name: 'get_location', result: { city: 'Oslo' } },
    ]);
    assert.equal(out.length, 3);
    assert.deepEqual(out[2], {
      role: 'tool',
      content: [
        { type: 'tool-result', toolCallId: 'a', toolName: 'calculator', output: { type: 'json', value: 1 } },
        { type: 'tool-result', toolCallId: 'b', toolName: 'get_location', output: { type: 'json', value: { city: 'Oslo' } } },
      ],
    });
  });

  test('a missing tool result is sent as JSON null', () => {
    const out = toModelMessages([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'x', name: 't', arguments: {} }] },
      { role: 'tool', tool_call_id: 'x', name: 't', result: undefined },
    ]);
    assert.deepEqual(out[2], { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'x', toolName: 't', output: { type: 'json', value: null } }] });
  });
});

describe('retry policy', () => {
  const policy: RetryPolicy = { maxRetries: 2, baseDelayMs: 100, maxRetryAfterMs: 1000 };

  test('retryAfterMs reads retry-after-ms, then retry-after in seconds or as an HTTP date, in any header case', () => {
    assert.equal(retryAfterMs(httpError(429, { 'retry-after-ms': '50' })), 50);
    assert.equal(retryAfterMs(httpError(429, { 'Retry-After': '2' })), 2000);
    assert.equal(retryAfterMs(httpError(429, { 'retry-after-ms': '50', 'retry-after': '2' })), 50, 'the precise header wins');
    assert.equal(retryAfterMs(httpError(429, { 'retry-after-ms': 'soon', 'retry-after': '2' })), 2000, 'an unreadable retry-after-ms is skipped');
    const date = retryAfterMs(httpError(429, { 'retry-after': new Date(Date.now() + 10_000).toUTCString() }));
    assert.ok(date !== undefined && date > 8000 && date <= 10_000, `an HTTP date ten seconds ahead (${date} ms)`);
    assert.equal(retryAfterMs(httpError(429, { 'retry-after': new Date(Date.now() - 60_000).toUTCString() })), 0, 'a date in the past: no wait');
    assert.equal(retryAfterMs(httpError(429, { 'retry-after': 'whenever' })), undefined);
    assert.equal(retryAfterMs(httpError(429)), undefined);
    assert.equal(retryAfterMs(new Error('not from a provider')), undefined);
  });

  test("retryDelay: only retryable failures, at most maxRetries, the provider's delay unless it is too long, else doubling backoff", () => {
    assert.equal(retryDelay(policy, 0, httpError(400)), undefined, 'not retryable');
    assert.equal(retryDelay(policy, 0, new Error('boom')), undefined, 'not a provider failure');
    assert.equal(retryDelay(policy, 2, httpError(503)), undefined, 'retries used up');
    assert.equal(retryDelay(policy, 0, httpError(429, { 'retry-after-ms': '500' })), 500);
    assert.equal(retryDelay(policy, 1, httpError(429, { 'retry-after': '1' })), 1000, 'exactly maxRetryAfterMs is waited');
    assert.equal(retryDelay(policy, 0, httpError(429, { 'retry-after': '2' })), undefined, 'longer than maxRetryAfterMs is not');
    for (let i = 0; i < 20; i++) {
      const first = retryDelay(policy, 0, httpError(503))!;
      const second = retryDelay(policy, 1, httpError(503))!;
      assert.ok(first >= 50 && first <= 100, `first backoff ${first} in [50, 100]`);
      assert.ok(second >= 100 && second <= 200, `second backoff ${second} in [100, 200]`);
    }
  });

  test('toAgentError: a 429 is upstream_rate_limited with retryAfter in whole seconds when the provider said', () => {
    const signal = new AbortController().signal;
    const limited = toAgentError(httpError(429, { 'retry-after-ms': '1500' }), signal);
    assert.equal(limited.code, 'upstream_rate_limited');
    assert.equal(limited.retryAfter, 2);
    assert.doesNotMatch(limited.message, /secret|1234/);
    assert.equal(toAgentError(httpError(429), signal).retryAfter, undefined);
    assert.equal(toAgentError(httpError(503, { 'retry-after': '3' }), signal).retryAfter, undefined, 'only a rate limit carries it');
  });
});

describe('createAgent with a scripted model', () => {
  const SYSTEM = 'system: Be brief.';
  const add = tool({
    description: 'Add two numbers',
    inputSchema: z.object({ a: z.number(), b: z.number() }),
    execute: ({ a, b }) => a + b,
  });
  const boom = tool({
    description: 'Always fails',
    inputSchema: z.object({}),
    execute: (): string => {
      throw new Error('kaboom');
    },
  });
  /** Records the abort signal it ran with; honours it. */
  const slowSignals: AbortSignal[] = [];
  const slow = tool({
    description: 'Takes its time',
    inputSchema: z.object({ ms: z.number() }),
    execute: async ({ ms }, { abortSignal }) => {
      if (abortSignal) slowSignals.push(abortSignal);
      await sleep(ms, undefined, abortSignal ? { signal: abortSignal } : {});
      return { slept: ms };
    },
  });
  const tools = { add, boom, slow };
  const getLocation: ClientTool = {
    name: 'get_location',
    description: "The user's location, from their device",
    parameters: { type: 'object', properties: { precise: { type: 'boolean' } }, additionalProperties: false },
  };

  function setup(replies: ScriptedReply[], options: Omit<AgentOptions, 'model'> = {}): { model: ScriptedModel; agent: Agent } {
    const model = scriptedModel(replies);
    return { model, agent: createAgent({ model, instructions: 'Be brief.', tools, maxRetries: 0, ...options }) };
  }

  interface Outcome {
    events: AgentEvent[];
    /** The AgentError the run ended with; undefined when it finished cleanly. */
    error: AgentError | undefined;
    ms: number;
  }

  interface RunOptions {
    /** Default 'hi'; pass `undefined` for a turn that only carries client tool results. */
    message?: string | undefined;
    history?: ChatMessage[];
    clientTools?: ClientTool[];
    signal?: AbortSignal;
    onEvent?: (e: AgentEvent) => void;
  }

  /** Runs to the end; `onEvent` may abort mid-run. Anything thrown but an AgentError fails the test. */
  async function collect(agent: Agent, options: RunOptions = {}): Promise<Outcome> {
    const { history = [], clientTools, signal = new AbortController().signal, onEvent } = options;
    const message = 'message' in options ? options.message : 'hi';
    const events: AgentEvent[] = [];
    const started = performance.now();
    try {
      for await (const event of agent.run({ history, message, clientTools, signal })) {
        events.push(event);
        onEvent?.(event);
      }
      return { events, error: undefined, ms: performance.now() - started };
    } catch (error) {
      assert.ok(error instanceof AgentError, `the run throws AgentError, got ${String(error)}`);
      return { events, error, ms: performance.now() - started };
    }
  }

  const usage = (input: number, output: number) => ({ input_tokens: input, output_tokens: output, total_tokens: input + output });
  const finish = (input: number, output: number, finish_reason: Exclude<FinishReason, 'error'> = 'stop'): AgentEvent => ({
    type: 'finish',
    usage: usage(input, output),
    finish_reason,
  });
  /** A step's end with the scripted model's default usage unless told. */
  const stepFinish = (step: number, finish_reason: StepFinishReason, input = 10, output = 5): AgentEvent => ({
    type: 'step_finish',
    step,
    finish_reason,
    usage: usage(input, output),
  });
  const types = (events: AgentEvent[]) => events.map((e) => e.type);
  const resultsOf = (events: AgentEvent[]) => events.flatMap((e) => (e.type === 'tool_result' ? [[e.id, e.result] as const] : []));
  const errorText = (result: unknown) => String((result as { error?: unknown } | undefined)?.error);

  describe('replies and the tool loop', () => {
    test('text deltas stream as tokens inside one step, then one finish with the usage', async () => {
      const { model, agent } = setup([{ text: ['Hel', 'lo', ' there'], usage: { input: 3, output: 2 } }]);
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'token', content: 'Hel' },
        { type: 'token', content: 'lo' },
        { type: 'token', content: ' there' },
        stepFinish(1, 'stop', 3, 2),
        finish(3, 2),
      ]);
      assert.equal(model.calls.length, 1);
    });

    test('the model gets the instructions as system prompt, the message last, and every tool', async () => {
      const { model, agent } = setup([{ text: 'ok' }]);
      await collect(agent, { message: 'What is 1+2?' });
      const [call] = model.calls;
      assert.deepEqual(call?.transcript, [SYSTEM, 'user: What is 1+2?']);
      assert.deepEqual(call.tools, ['add', 'boom', 'slow']);
      assert.equal(call.aborted, false);

      const plain = scriptedModel([{ text: 'ok' }]);
      await collect(createAgent({ model: plain }));
      assert.equal(plain.calls[0]?.system, DEFAULT_INSTRUCTIONS);
      assert.deepEqual(plain.calls[0].tools, [], 'no tools unless given');
    });

    test('tool loop: step events frame each model call; the tool result follows its step and goes back in the next call', async () => {
      const { model, agent } = setup([
        { text: 'Let me add. ', toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 2, b: 3 } }], usage: { input: 100, output: 7 } },
        { text: 'It is 5.', usage: { input: 130, output: 9 } },
      ]);
      const { events, error } = await collect(agent, { message: '2+3?' });
      assert.equal(error, undefined);
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'token', content: 'Let me add. ' },
        { type: 'tool_call_delta', id: 'c1', name: 'add', arguments_delta: '{"a":2,"b":3}' },
        { type: 'tool_call', id: 'c1', name: 'add', arguments: { a: 2, b: 3 } },
        stepFinish(1, 'tool_calls', 100, 7),
        { type: 'tool_result', id: 'c1', name: 'add', result: 5 },
        { type: 'step_start', step: 2 },
        { type: 'token', content: 'It is 5.' },
        stepFinish(2, 'stop', 130, 9),
        finish(230, 16),
      ]);
      assert.equal(model.calls.length, 2);
      assert.deepEqual(model.calls[1]?.transcript, [
        SYSTEM,
        'user: 2+3?',
        'assistant: Let me add. ',
        'assistant calls add#c1({"a":2,"b":3})',
        'tool add#c1: 5',
      ]);
    });

    test('a tool that throws becomes a tool_result {error} the model reads; the loop goes on', async () => {
      const { model, agent } = setup([{ toolCalls: [{ id: 'b1', name: 'boom', arguments: {} }] }, { text: 'That failed.' }]);
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(resultsOf(events), [['b1', { error: 'kaboom' }]]);
      assert.deepEqual(events.at(-3), { type: 'token', content: 'That failed.' });
      assert.deepEqual(model.calls[1]?.transcript.slice(2), ['assistant calls boom#b1({})', 'tool boom#b1: {"error":"kaboom"}']);
    });

    test('two tool calls in one step: both run, both results go back in one next call, in call order', async () => {
      const { model, agent } = setup([
        {
          text: 'Adding twice. ',
          toolCalls: [
            { id: 'x', name: 'add', arguments: { a: 1, b: 1 } },
            { id: 'y', name: 'add', arguments: { a: 20, b: 22 } },
          ],
        },
        { text: '2 and 42' },
      ]);
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(
        events.filter((e) => e.type === 'tool_call'),
        [
          { type: 'tool_call', id: 'x', name: 'add', arguments: { a: 1, b: 1 } },
          { type: 'tool_call', id: 'y', name: 'add', arguments: { a: 20, b: 22 } },
        ],
      );
      assert.deepEqual(resultsOf(events), [
        ['x', 2],
        ['y', 42],
      ]);
      assert.equal(model.calls.length, 2);
      assert.deepEqual(model.calls[1]?.transcript.slice(2), [
        'assistant: Adding twice. ',
        'assistant calls add#x({"a":1,"b":1})',
        'assistant calls add#y({"a":20,"b":22})',
        'tool add#x: 2',
        'tool add#y: 42',
      ]);
      assert.equal(model.calls[1].prompt.filter((m) => m.role === 'assistant').length, 1, 'both calls in one assistant message');
      assert.equal(model.calls[1].prompt.filter((m) => m.role === 'tool').length, 1, 'both results in one tool message');
    });

    test('an unknown tool, malformed JSON or input failing the schema become tool_result {error} naming the tool; the loop goes on', async () => {
      let executed = 0;
      const strict = tool({
        inputSchema: z.object({ n: z.number().int() }),
        execute: ({ n }) => {
          executed++;
          return n;
        },
      });
      const { model, agent } = setup(
        [
          {
            toolCalls: [
              { id: 'u', name: 'nope', arguments: {} },
              { id: 'j', name: 'add', arguments: '{"a": 1,' },
              { id: 'v', name: 'add', arguments: { a: 'one', b: 2 } },
              { id: 's', name: 'strict', arguments: { n: 1.5 } },
            ],
          },
          { text: 'Sorry.' },
        ],
        { tools: { ...tools, strict } },
      );
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      const results = new Map(resultsOf(events));
      assert.equal(results.size, 4);
      assert.match(errorText(results.get('u')), /Unknown tool 'nope'/);
      assert.match(errorText(results.get('j')), /Invalid arguments for add: .*not valid JSON/);
      assert.match(errorText(results.get('v')), /Invalid arguments for add:/);
      assert.match(errorText(results.get('v')), /"a"/, 'names the field');
      assert.match(errorText(results.get('s')), /Invalid arguments for strict:/);
      assert.equal(executed, 0, 'input is checked before the tool runs');
      assert.deepEqual(
        events.flatMap((e) => (e.type === 'tool_call' && e.id === 'j' ? [e.arguments] : [])),
        ['{"a": 1,'],
        'malformed arguments are reported as the text the model wrote',
      );
      assert.equal(model.calls.length, 2);
      assert.equal(model.calls[1]?.transcript.filter((l) => /^tool .*: \{"error":/.test(l)).length, 4, 'the model reads all four errors');
      assert.deepEqual(events.at(-3), { type: 'token', content: 'Sorry.' });
    });

    test('usage: each step_finish has its own step, the finish sums them', async () => {
      const { agent } = setup([
        { toolCalls: [{ name: 'add', arguments: { a: 1, b: 2 } }], usage: { input: 100, output: 7 } },
        { toolCalls: [{ name: 'add', arguments: { a: 3, b: 4 } }], usage: { input: 130, output: 9 } },
        { text: '3 and 7', usage: { input: 160, output: 4 } },
      ]);
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(
        events.filter((e) => e.type === 'step_finish'),
        [stepFinish(1, 'tool_calls', 100, 7), stepFinish(2, 'tool_calls', 130, 9), stepFinish(3, 'stop', 160, 4)],
      );
      assert.deepEqual(
        events.filter((e) => e.type === 'step_start'),
        [1, 2, 3].map((step) => ({ type: 'step_start', step })),
      );
      assert.deepEqual(
        events.filter((e) => e.type === 'finish'),
        [finish(390, 20)],
        'one finish, at the end',
      );
      assert.equal(events.at(-1)?.type, 'finish');
    });

    test('a provider that reports no token counts gives zeros, not NaN', async () => {
      const { agent } = setup([{ text: 'hi', usage: { input: undefined, output: undefined } }]);
      const { events } = await collect(agent);
      assert.deepEqual(events.slice(-2), [stepFinish(1, 'stop', 0, 0), finish(0, 0)]);
    });

    test('maxSteps caps the loop: the last step’s tools run, no model call follows, and the turn ends with max_steps', async () => {
      const again: ScriptedReply = { toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }] };
      const { model, agent } = setup([again, again, again], { maxSteps: 2 });
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      const step = ['step_start', 'tool_call_delta', 'tool_call', 'step_finish', 'tool_result'];
      assert.deepEqual(types(events), [...step, ...step, 'finish']);
      assert.deepEqual(events.at(-1), finish(20, 10, 'max_steps'));
      assert.deepEqual(resultsOf(events), [
        ['call_0_0', 2],
        ['call_1_0', 2],
      ]);
      assert.equal(model.calls.length, 2);
      assert.equal(model.remaining, 1);
    });

    test('a reply within maxSteps ends with stop, even on the last step', async () => {
      const { events } = await collect(setup([{ toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }] }, { text: '2' }], { maxSteps: 2 }).agent);
      assert.deepEqual(events.at(-1), finish(20, 10, 'stop'));
    });

    test('a model stopped by its length limit or its content filter ends the turn with length / content_filter', async () => {
      for (const [finishReason, reason] of [
        ['length', 'length'],
        ['content-filter', 'content_filter'],
      ] as const) {
        const { events, error } = await collect(setup([{ text: 'Cut sho', finishReason }]).agent);
        assert.equal(error, undefined);
        assert.deepEqual(events.slice(-2), [stepFinish(1, reason), finish(10, 5, reason)], finishReason);
      }
    });

    test('a step cut off by the length limit or the content filter: its tool calls are reported but not run, and the turn ends', async () => {
      for (const [finishReason, reason] of [
        ['length', 'length'],
        ['content-filter', 'content_filter'],
      ] as const) {
        const { model, agent } = setup([
          { text: 'Let me add', toolCalls: [{ id: 'c', name: 'add', arguments: { a: 1, b: 1 } }], finishReason },
          { text: 'never' },
        ]);
        const { events, error } = await collect(agent);
        assert.equal(error, undefined);
        assert.deepEqual(types(events), ['step_start', 'token', 'tool_call_delta', 'tool_call', 'step_finish', 'finish'], finishReason);
        assert.deepEqual(events.slice(-2), [stepFinish(1, reason), finish(10, 5, reason)]);
        assert.equal(model.calls.length, 1);
      }
    });

    test('a provider that says stop after tool calls still gets its tools run', async () => {
      const { model, agent } = setup([{ toolCalls: [{ id: 'c', name: 'add', arguments: { a: 1, b: 1 } }], finishReason: 'stop' }, { text: '2' }]);
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(resultsOf(events), [['c', 2]]);
      assert.deepEqual(
        events.find((e) => e.type === 'step_finish'),
        stepFinish(1, 'tool_calls'),
      );
      assert.equal(model.calls.length, 2);
    });

    test('a model that finishes with error fails upstream_error after its step_finish', async () => {
      const { events, error } = await collect(setup([{ text: 'Hm', finishReason: 'error' }]).agent);
      assert.equal(error?.code, 'upstream_error');
      assert.deepEqual(events.at(-1), stepFinish(1, 'error'));
    });

    test('a tool the provider runs itself is reported as tool_call and tool_result, and not run here', async () => {
      const { model, agent } = setup([
        { toolCalls: [{ id: 'w', name: 'web_search', arguments: { query: 'news' }, providerResult: { hits: 3 } }] },
        { text: 'never' },
      ]);
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'tool_call_delta', id: 'w', name: 'web_search', arguments_delta: '{"query":"news"}' },
        { type: 'tool_call', id: 'w', name: 'web_search', arguments: { query: 'news' } },
        stepFinish(1, 'stop'),
        { type: 'tool_result', id: 'w', name: 'web_search', result: { hits: 3 } },
        finish(10, 5),
      ]);
      assert.equal(model.calls.length, 1);
    });
  });

  describe('concurrent tool calls', () => {
    test('the calls of one step run at once; results go out in call order although the later call finishes first', async () => {
      const finished: string[] = [];
      let secondDone = (): void => {};
      const second = new Promise<void>((resolve) => (secondDone = resolve));
      // Run one after the other, `waits` would never see `second` finish: it would answer 'alone'.
      const waits = tool({
        inputSchema: z.object({}),
        execute: async () => {
          const met = await Promise.race([second.then(() => true), sleep(3000, false)]);
          finished.push('waits');
          return met ? 'met' : 'alone';
        },
      });
      const quick = tool({
        inputSchema: z.object({}),
        execute: async () => {
          await sleep(10);
          finished.push('quick');
          secondDone();
          return 'done';
        },
      });
      const { model, agent } = setup(
        [
          {
            toolCalls: [
              { id: 'w', name: 'waits', arguments: {} },
              { id: 'q', name: 'quick', arguments: {} },
            ],
          },
          { text: 'ok' },
        ],
        { tools: { waits, quick } },
      );
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(finished, ['quick', 'waits']);
      assert.deepEqual(resultsOf(events), [
        ['w', 'met'],
        ['q', 'done'],
      ]);
      assert.deepEqual(model.calls[1]?.transcript.slice(-2), ['tool waits#w: met', 'tool quick#q: done']);
    });

    test('two slow tools of one step take about as long as one of them, not the sum', async () => {
      const at = new Map<string, number>();
      const { agent } = setup([
        {
          toolCalls: [
            { id: 'a', name: 'slow', arguments: { ms: 400 } },
            { id: 'b', name: 'slow', arguments: { ms: 400 } },
          ],
        },
        { text: 'ok' },
      ]);
      const { error } = await collect(agent, {
        onEvent: (e) => {
          if (e.type === 'step_finish' || e.type === 'tool_result') at.set(e.type === 'step_finish' ? `step ${e.step}` : e.id, performance.now());
        },
      });
      assert.equal(error, undefined);
      const took = at.get('b')! - at.get('step 1')!;
      assert.ok(took >= 390, `both slept (${Math.round(took)} ms)`);
      assert.ok(took < 750, `they ran side by side: one after the other takes at least 800 ms (${Math.round(took)} ms)`);
    });
  });

  describe('tool_call_delta', () => {
    test("a call's argument deltas come in order, each with its call's id and name, before the complete tool_call", async () => {
      const { agent } = setup([
        {
          toolCalls: [
            { id: 'c1', name: 'add', arguments: { a: 2, b: 3 }, deltas: ['{"a"', ':2,"b":', '3}'] },
            { id: 'c2', name: 'slow', arguments: { ms: 1 }, deltas: ['{"ms":', '1}'] },
          ],
        },
        { text: 'ok' },
      ]);
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      for (const [id, name, args] of [
        ['c1', 'add', { a: 2, b: 3 }],
        ['c2', 'slow', { ms: 1 }],
      ] as const) {
        const deltas = events.flatMap((e, i) => (e.type === 'tool_call_delta' && e.id === id ? [{ i, e }] : []));
        assert.ok(deltas.every(({ e }) => e.name === name));
        assert.deepEqual(JSON.parse(deltas.map(({ e }) => e.arguments_delta).join('')), args);
        const call = events.findIndex((e) => e.type === 'tool_call' && e.id === id);
        assert.ok(deltas.length > 1 && deltas.every(({ i }) => i < call), `${id}: the deltas precede the tool_call`);
      }
      assert.deepEqual(
        events.flatMap((e) => (e.type === 'tool_call_delta' ? [e.arguments_delta] : [])),
        ['{"a"', ':2,"b":', '3}', '{"ms":', '1}'],
      );
    });

    test('deltas go out as the model writes them, not when its step ends', async () => {
      const { model, agent } = setup([{ toolCalls: [{ id: 'c', name: 'add', arguments: { a: 1, b: 1 }, deltas: ['{"a":1,', '"b":1}'] }], delayMs: 50 }]);
      const controller = new AbortController();
      const { events, error } = await collect(agent, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'tool_call_delta') controller.abort();
        },
      });
      assert.equal(error?.code, 'aborted');
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'tool_call_delta', id: 'c', name: 'add', arguments_delta: '{"a":1,' },
      ]);
      assert.equal(model.calls[0]?.aborted, true, 'the model was still writing the call');
    });
  });

  describe('client tools', () => {
    const calls: ScriptedReply = {
      toolCalls: [
        { id: 's', name: 'add', arguments: { a: 1, b: 2 } },
        { id: 'c', name: 'get_location', arguments: { precise: true } },
      ],
    };

    test("are offered with their JSON Schema; calling one ends the turn with tool_calls and the call pending, after the step's server tools ran", async () => {
      const { model, agent } = setup([calls, { text: 'never' }]);
      const { events, error } = await collect(agent, { clientTools: [getLocation] });
      assert.equal(error, undefined);
      assert.deepEqual(model.calls[0]?.tools, ['add', 'boom', 'slow', 'get_location']);
      assert.deepEqual(
        model.calls[0].options.tools?.find((t) => t.name === 'get_location'),
        { type: 'function', name: 'get_location', description: getLocation.description, inputSchema: getLocation.parameters },
      );
      assert.deepEqual(types(events), ['step_start', 'tool_call_delta', 'tool_call_delta', 'tool_call', 'tool_call', 'step_finish', 'tool_result', 'finish']);
      assert.deepEqual(
        events.filter((e) => e.type === 'tool_call').map((e) => e.id),
        ['s', 'c'],
      );
      assert.deepEqual(resultsOf(events), [['s', 3]], 'the server tool ran; the client tool is pending');
      assert.deepEqual(events.at(-1), finish(10, 5, 'tool_calls'));
      assert.equal(model.calls.length, 1);
    });

    test('a turn without a message sends the stored calls and the client’s results to the model, and goes on', async () => {
      const { model, agent } = setup([calls, { text: 'In Oslo; and 3.' }]);
      const first = await collect(agent, { message: 'Where am I, and 1+2?', clientTools: [getLocation] });
      const transcript = new Transcript();
      const stored = first.events.flatMap((e) => transcript.add(e));
      stored.push(...transcript.finish(false));
      const history: ChatMessage[] = [
        { role: 'user', content: 'Where am I, and 1+2?' },
        ...stored,
        { role: 'tool', tool_call_id: 'c', name: 'get_location', result: { city: 'Oslo' } },
      ];

      const { events, error } = await collect(agent, { message: undefined, history, clientTools: [getLocation] });
      assert.equal(error, undefined);
      assert.deepEqual(model.calls[1]?.transcript, [
        SYSTEM,
        'user: Where am I, and 1+2?',
        'assistant calls add#s({"a":1,"b":2})',
        'assistant calls get_location#c({"precise":true})',
        'tool add#s: 3',
        'tool get_location#c: {"city":"Oslo"}',
      ]);
      assert.equal(model.calls[1].prompt.at(-1)?.role, 'tool', 'no user message is added');
      assert.deepEqual(types(events), ['step_start', 'token', 'step_finish', 'finish']);
      assert.deepEqual(events.at(-1), finish(10, 5, 'stop'));
    });

    test("one named like an agent's own tool is not offered twice: the agent's tool runs", async () => {
      const { model, agent } = setup([{ toolCalls: [{ id: 'a', name: 'add', arguments: { a: 1, b: 1 } }] }, { text: '2' }]);
      const { events } = await collect(agent, { clientTools: [{ name: 'add', parameters: { type: 'object' } }] });
      assert.deepEqual(model.calls[0]?.tools, ['add', 'boom', 'slow']);
      assert.deepEqual(resultsOf(events), [['a', 2]]);
      assert.deepEqual(events.at(-1), finish(20, 10, 'stop'));
    });
  });

  describe('history', () => {
    const turn = (n: number): ChatMessage[] => [
      { role: 'user', content: `q${n}` },
      { role: 'assistant', content: `a${n}` },
    ];

    test('historyWindow bounds the history sent; the window starts at a user message', async () => {
      const history = [...turn(1), ...turn(2), ...turn(3)];
      for (const [historyWindow, expected] of [
        [2, ['user: q3', 'assistant: a3']],
        [3, ['user: q3', 'assistant: a3']], // would start at a2
        [4, ['user: q2', 'assistant: a2', 'user: q3', 'assistant: a3']],
        [0, []],
      ] as const) {
        const { model, agent } = setup([{ text: 'ok' }], { historyWindow });
        assert.equal(agent.historyWindow, historyWindow);
        await collect(agent, { history, message: 'q4' });
        assert.deepEqual(model.calls[0]?.transcript, [SYSTEM, ...expected, 'user: q4'], `historyWindow ${historyWindow}`);
      }
    });

    test('a stored tool step is replayed; a call left unanswered by an interrupted turn is not', async () => {
      const { model, agent } = setup([{ text: 'ok' }]);
      const history: ChatMessage[] = [
        { role: 'user', content: 'q1' },
        { role: 'assistant', content: '', tool_calls: [{ id: 't1', name: 'add', arguments: { a: 1, b: 1 } }] },
        { role: 'tool', tool_call_id: 't1', name: 'add', result: 2 },
        { role: 'assistant', content: 'a1' },
        { role: 'user', content: 'q2' },
        { role: 'assistant', content: 'Part', tool_calls: [{ id: 'lost', name: 'add', arguments: { a: 2, b: 2 } }], interrupted: true },
      ];
      await collect(agent, { history, message: 'q3' });
      assert.deepEqual(model.calls[0]?.transcript, [
        SYSTEM,
        'user: q1',
        'assistant calls add#t1({"a":1,"b":1})',
        'tool add#t1: 2',
        'assistant: a1',
        'user: q2',
        'assistant: Part',
        'user: q3',
      ]);
    });
  });

  describe('abort', () => {
    test('abort mid-stream: AgentError(aborted) after the tokens so far; the model call is aborted', async () => {
      const { model, agent } = setup([{ text: 'Partial', hang: true }]);
      const controller = new AbortController();
      const { events, error } = await collect(agent, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'token') controller.abort();
        },
      });
      assert.equal(error?.code, 'aborted');
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'token', content: 'Partial' },
      ]);
      assert.equal(model.calls.length, 1);
      assert.equal(model.calls[0]?.aborted, true);
    });

    test('abort with a reason of its own still yields AgentError(aborted)', async () => {
      const { model, agent } = setup([{ hang: true }]);
      const controller = new AbortController();
      const run = collect(agent, { signal: controller.signal });
      await model.waitForCall(1);
      controller.abort(new Error('client went away'));
      const { error } = await run;
      assert.equal(error?.code, 'aborted');
      assert.equal(model.calls[0]?.aborted, true);
    });

    test('an already-aborted signal: AgentError(aborted) and no model call', async () => {
      const { model, agent } = setup([{ text: 'never' }]);
      const { events, error } = await collect(agent, { signal: AbortSignal.abort() });
      assert.equal(error?.code, 'aborted');
      assert.deepEqual(events, []);
      assert.equal(model.calls.length, 0);
    });

    test("abort while tools run: every tool's signal fires, no result goes out and no further model call is made", async () => {
      slowSignals.length = 0;
      const { model, agent } = setup([
        {
          toolCalls: [
            { id: 's1', name: 'slow', arguments: { ms: 10_000 } },
            { id: 's2', name: 'slow', arguments: { ms: 10_000 } },
          ],
        },
        { text: 'never' },
      ]);
      const controller = new AbortController();
      const { events, error, ms } = await collect(agent, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'step_finish') setTimeout(() => controller.abort(), 20);
        },
      });
      assert.equal(error?.code, 'aborted');
      assert.ok(ms < 5000, `stopped promptly (${Math.round(ms)} ms)`);
      assert.deepEqual(types(events), ['step_start', 'tool_call_delta', 'tool_call_delta', 'tool_call', 'tool_call', 'step_finish']);
      assert.equal(slowSignals.length, 2);
      assert.ok(slowSignals.every((s) => s.aborted));
      assert.equal(model.calls.length, 1);
      assert.equal(model.remaining, 1);
    });

    test('a tool that ignores its signal is not waited for once the run is aborted', async () => {
      const stubborn = tool({ inputSchema: z.object({}), execute: () => sleep(3000, 'late') });
      const { agent } = setup([{ toolCalls: [{ name: 'stubborn', arguments: {} }] }, { text: 'never' }], { tools: { stubborn } });
      const controller = new AbortController();
      const { error, ms } = await collect(agent, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'step_finish') setTimeout(() => controller.abort(), 20);
        },
      });
      assert.equal(error?.code, 'aborted');
      assert.ok(ms < 2500, `did not wait for the tool (${Math.round(ms)} ms)`);
    });

    test('abort during the backoff before a retry: AgentError(aborted) at once, no further model call', async () => {
      const { model, agent } = setup([{ reject: httpError(503, { 'retry-after-ms': '10000' }) }, { text: 'never' }], { maxRetries: 2 });
      const controller = new AbortController();
      const run = collect(agent, { signal: controller.signal });
      await model.waitForCall(1);
      await sleep(30);
      controller.abort();
      const { events, error, ms } = await run;
      assert.equal(error?.code, 'aborted');
      assert.ok(ms < 5000, `did not wait out the backoff (${Math.round(ms)} ms)`);
      assert.deepEqual(events, [{ type: 'step_start', step: 1 }]);
      assert.equal(model.calls.length, 1);
    });

    test('a consumer that stops iterating early aborts the model call', async () => {
      const { model, agent } = setup([{ text: 'Partial', hang: true }]);
      for await (const event of agent.run({ history: [], message: 'hi', signal: new AbortController().signal })) {
        if (event.type === 'token') break;
      }
      await sleep(10);
      const call = model.calls[0];
      assert.ok(call?.aborted === true || call?.cancelled === true, 'the model call was aborted or its stream cancelled');
    });

    test('a consumer that stops iterating while a tool still runs aborts that tool', async () => {
      slowSignals.length = 0;
      const { agent } = setup([
        {
          toolCalls: [
            { id: 'quick', name: 'slow', arguments: { ms: 1 } },
            { id: 'long', name: 'slow', arguments: { ms: 10_000 } },
          ],
        },
      ]);
      const started = performance.now();
      for await (const event of agent.run({ history: [], message: 'hi', signal: new AbortController().signal })) {
        if (event.type === 'tool_result') break;
      }
      assert.ok(performance.now() - started < 5000, 'did not wait for the long tool');
      assert.equal(slowSignals.length, 2);
      assert.ok(slowSignals.every((s) => s.aborted));
    });
  });

  describe('timeouts on silence', () => {
    test('a silent model fails upstream_timeout after timeoutMs; the model call is aborted with that error', async () => {
      const { model, agent } = setup([{ text: 'Thinking', hang: true }], { timeoutMs: 50 });
      const { events, error, ms } = await collect(agent);
      assert.equal(error?.code, 'upstream_timeout');
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'token', content: 'Thinking' },
      ]);
      assert.ok(ms >= 45 && ms < 2000, `timed out after ~50 ms (${Math.round(ms)} ms)`);
      assert.equal(model.calls[0]?.aborted, true);
      assert.ok(model.calls[0].abortReason instanceof AgentError);
      assert.equal(model.calls[0].abortReason.code, 'upstream_timeout');
    });

    test('a model that never sends a first part times out too', async () => {
      const { agent } = setup([{ hang: true }], { timeoutMs: 30 });
      const { events, error } = await collect(agent);
      assert.equal(error?.code, 'upstream_timeout');
      assert.deepEqual(events, [{ type: 'step_start', step: 1 }]);
    });

    test('steady parts each within timeoutMs never time out, however long the whole reply takes', async () => {
      const pieces = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
      const { agent } = setup([{ text: pieces, delayMs: 15 }], { timeoutMs: 150 });
      const { events, error, ms } = await collect(agent);
      assert.equal(error, undefined);
      assert.ok(ms > 150, `the reply took longer than timeoutMs overall (${Math.round(ms)} ms)`);
      assert.equal(events.flatMap((e) => (e.type === 'token' ? [e.content] : [])).join(''), pieces.join(''));
    });

    test('time spent running tools is not model silence', async () => {
      const { model, agent } = setup(
        [
          {
            toolCalls: [
              { id: 's', name: 'slow', arguments: { ms: 250 } },
              { id: 't', name: 'slow', arguments: { ms: 300 } },
            ],
          },
          { text: 'done' },
        ],
        { timeoutMs: 100 },
      );
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(resultsOf(events), [
        ['s', { slept: 250 }],
        ['t', { slept: 300 }],
      ]);
      assert.equal(model.calls.length, 2);
    });

    test('time spent backing off before a retry is not model silence', async () => {
      const { model, agent } = setup([{ reject: httpError(503, { 'retry-after-ms': '300' }) }, { text: 'second try' }], { timeoutMs: 50, maxRetries: 1 });
      const { events, error } = await collect(agent);
      assert.equal(error, undefined);
      assert.deepEqual(types(events), ['step_start', 'token', 'step_finish', 'finish']);
      assert.equal(model.calls.length, 2);
      assert.ok(model.calls[1]!.startedAt - model.calls[0]!.startedAt >= 290, 'the backoff outlasted timeoutMs');
    });

    test('the retried call is timed again: silence after the backoff still times out', async () => {
      const { model, agent } = setup([{ reject: httpError(503, { 'retry-after-ms': '100' }) }, { hang: true }], { timeoutMs: 50, maxRetries: 1 });
      const { error } = await collect(agent);
      assert.equal(error?.code, 'upstream_timeout');
      assert.equal(model.calls.length, 2);
      assert.equal(model.calls[1]?.aborted, true);
    });

    test('a model silent after a tool call, before it finishes the step, still times out', async () => {
      const { model, agent } = setup([{ toolCalls: [{ id: 'c', name: 'add', arguments: { a: 1, b: 1 } }], hang: true }], { timeoutMs: 30 });
      const guard = new AbortController(); // ends the run when the timeout never fires
      const timer = setTimeout(() => guard.abort(), 150);
      const { error } = await collect(agent, { signal: guard.signal });
      clearTimeout(timer);
      assert.equal(error?.code, 'upstream_timeout');
      assert.equal(model.calls[0]?.aborted, true);
    });
  });

  describe('model failures and retries', () => {
    test('an error part fails upstream_error after the tokens so far', async () => {
      const { agent } = setup([{ text: 'So far', error: new Error('boom') }]);
      const { events, error } = await collect(agent);
      assert.equal(error?.code, 'upstream_error');
      assert.equal(error.message, 'The model provider failed');
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'token', content: 'So far' },
      ]);
    });

    test('a dropped stream fails upstream_error after the tokens so far', async () => {
      const { agent } = setup([{ text: ['So ', 'far'], reset: new Error('socket hang up') }]);
      const { events, error } = await collect(agent);
      assert.equal(error?.code, 'upstream_error');
      assert.deepEqual(events, [
        { type: 'step_start', step: 1 },
        { type: 'token', content: 'So ' },
        { type: 'token', content: 'far' },
      ]);
    });

    test('a failure after a tool step keeps the step and fails upstream_error', async () => {
      const { model, agent } = setup([{ toolCalls: [{ id: 'c', name: 'add', arguments: { a: 1, b: 1 } }] }, { reject: new Error('down') }]);
      const { events, error } = await collect(agent);
      assert.equal(error?.code, 'upstream_error');
      assert.deepEqual(types(events), ['step_start', 'tool_call_delta', 'tool_call', 'step_finish', 'tool_result', 'step_start']);
      assert.equal(model.calls.length, 2);
    });

    test('an HTTP error names only its status; 504 and 408 are upstream_timeout', async () => {
      for (const [status, code] of [
        [500, 'upstream_error'],
        [401, 'upstream_error'],
        [504, 'upstream_timeout'],
        [408, 'upstream_timeout'],
      ] as const) {
        const { agent } = setup([{ reject: httpError(status, { 'retry-after-ms': '0' }, false) }]);
        const { error } = await collect(agent);
        assert.equal(error?.code, code, `HTTP ${status}`);
        assert.match(error.message, new RegExp(`HTTP ${status}`));
        assert.doesNotMatch(error.message, /secret|1234/);
      }
    });

    test('a retryable failure is retried up to maxRetries times, within one step', async () => {
      const retried = setup(
        [{ reject: httpError(503, { 'retry-after-ms': '0' }) }, { reject: httpError(503, { 'retry-after-ms': '0' }) }, { text: 'third try' }],
        {
          maxRetries: 2,
        },
      );
      const ok = await collect(retried.agent);
      assert.equal(ok.error, undefined);
      assert.deepEqual(ok.events, [{ type: 'step_start', step: 1 }, { type: 'token', content: 'third try' }, stepFinish(1, 'stop'), finish(10, 5)]);
      assert.equal(retried.model.calls.length, 3);

      const short = setup([{ reject: httpError(503, { 'retry-after-ms': '0' }) }, { reject: httpError(503, { 'retry-after-ms': '0' }) }, { text: 'never' }], {
        maxRetries: 1,
      });
      const failed = await collect(short.agent);
      assert.equal(failed.error?.code, 'upstream_error');
      assert.equal(short.model.calls.length, 2);
    });

    test('maxRetries: 0 makes one attempt only', async () => {
      const { model, agent } = setup([{ reject: httpError(503, { 'retry-after-ms': '0' }) }, { text: 'never' }], { maxRetries: 0 });
      const { error } = await collect(agent);
      assert.equal(error?.code, 'upstream_error');
      assert.equal(model.calls.length, 1);
    });

    test('a failure that is not retryable is not retried', async () => {
      const { model, agent } = setup([{ reject: httpError(400) }, { text: 'never' }], { maxRetries: 2, retryDelayMs: 1 });
      const { error } = await collect(agent);
      assert.equal(error?.code, 'upstream_error');
      assert.equal(model.calls.length, 1);
    });

    test('an error part before any output is retried; once output went out, a failure is final', async () => {
      const early = setup([{ error: httpError(503) }, { text: 'ok' }], { maxRetries: 1, retryDelayMs: 1 });
      const ok = await collect(early.agent);
      assert.equal(ok.error, undefined);
      assert.deepEqual(types(ok.events), ['step_start', 'token', 'step_finish', 'finish']);
      assert.equal(early.model.calls.length, 2);

      for (const reply of [
        { text: 'So far', error: httpError(503) },
        { toolCalls: [{ name: 'add', arguments: { a: 1, b: 1 } }], error: httpError(503) },
      ]) {
        const late = setup([reply, { text: 'never' }], { maxRetries: 2, retryDelayMs: 1 });
        const { error } = await collect(late.agent);
        assert.equal(error?.code, 'upstream_error');
        assert.equal(late.model.calls.length, 1, 'not retried after output');
      }
    });

    test('without Retry-After the backoff starts at retryDelayMs (with jitter) and doubles', async () => {
      const { model, agent } = setup([{ reject: httpError(503) }, { reject: httpError(503) }, { text: 'ok' }], { maxRetries: 2, retryDelayMs: 60 });
      const { error } = await collect(agent);
      assert.equal(error, undefined);
      const [a, b, c] = model.calls.map((call) => call.startedAt);
      assert.ok(b! - a! >= 25, `first backoff at least half of 60 ms (${Math.round(b! - a!)} ms)`);
      assert.ok(c! - b! >= 55, `second backoff at least half of 120 ms (${Math.round(c! - b!)} ms)`);
    });

    test("the provider's Retry-After replaces the backoff: retry-after-ms 50 waits at least 50 ms, and not the longer backoff", async () => {
      for (const retryDelayMs of [0, 10_000]) {
        const { model, agent } = setup([{ reject: httpError(503, { 'retry-after-ms': '50' }) }, { text: 'ok' }], { maxRetries: 1, retryDelayMs });
        const { error, ms } = await collect(agent);
        assert.equal(error, undefined);
        const waited = model.calls[1]!.startedAt - model.calls[0]!.startedAt;
        assert.ok(waited >= 48, `waited ${Math.round(waited)} ms (retryDelayMs ${retryDelayMs})`);
        assert.ok(ms < 4000, `did not wait out retryDelayMs ${retryDelayMs} (${Math.round(ms)} ms)`);
      }
    });

    test('a 429 still failing after the retries is upstream_rate_limited with the last Retry-After, in seconds', async () => {
      const { model, agent } = setup(
        [{ reject: httpError(429, { 'retry-after-ms': '10' }) }, { reject: httpError(429, { 'retry-after': '7' }) }, { text: 'never' }],
        {
          maxRetries: 1,
        },
      );
      const { error } = await collect(agent);
      assert.equal(error?.code, 'upstream_rate_limited');
      assert.equal(error.retryAfter, 7);
      assert.doesNotMatch(error.message, /secret|1234/);
      assert.equal(model.calls.length, 2);

      const silent = await collect(setup([{ reject: httpError(429) }]).agent);
      assert.equal(silent.error?.code, 'upstream_rate_limited');
      assert.equal(silent.error.retryAfter, undefined, 'no Retry-After: none reported');
    });

    test('a Retry-After longer than maxRetryAfterMs is not waited out: upstream_rate_limited at once, with retryAfter', async () => {
      for (const [headers, options, retryAfter] of [
        [{ 'retry-after': '120' }, {}, 120],
        [{ 'retry-after-ms': '2500' }, { maxRetryAfterMs: 1000 }, 3],
      ] as const) {
        const { model, agent } = setup([{ reject: httpError(429, headers) }, { text: 'never' }], { maxRetries: 2, ...options });
        const { error, ms } = await collect(agent);
        assert.equal(error?.code, 'upstream_rate_limited');
        assert.equal(error.retryAfter, retryAfter);
        assert.equal(model.calls.length, 1);
        assert.ok(ms < 2000, `failed at once (${Math.round(ms)} ms)`);
      }
    });

    test('maxRetries: 0 fails a 429 at once with its retryAfter', async () => {
      const { model, agent } = setup([{ reject: httpError(429, { 'retry-after': '2' }) }, { text: 'never' }], { maxRetries: 0 });
      const { error, ms } = await collect(agent);
      assert.equal(error?.code, 'upstream_rate_limited');
      assert.equal(error.retryAfter, 2);
      assert.equal(model.calls.length, 1);
      assert.ok(ms < 1500, `did not wait (${Math.round(ms)} ms)`);
    });
  });

  describe('without a model', () => {
    test('notReadyReason() names the problem; run() fails model_not_configured', async () => {
      const agent = createAgent({});
      assert.match(agent.notReadyReason() ?? '', /No model is configured/);
      const { events, error } = await collect(agent);
      assert.equal(error?.code, 'model_not_configured');
      assert.equal(error.message, agent.notReadyReason());
      assert.deepEqual(events, []);

      const hinted = createAgent({ model: undefined, notConfiguredHint: 'Set LLM_MODEL.' });
      assert.equal(hinted.notReadyReason(), 'Set LLM_MODEL.');
      assert.equal((await collect(hinted)).error?.message, 'Set LLM_MODEL.');
    });

    test('with a model, notReadyReason() is undefined', () => {
      assert.equal(createAgent({ model: scriptedModel([]) }).notReadyReason(), undefined);
    });
  });
});
