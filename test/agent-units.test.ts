/**
 * Pure units of the agent core: the calculator's expression evaluator, the transcript that folds
 * run events into persisted messages, and the history window sent to the model. No HTTP here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AgentEvent } from '../src/core/events.js';
import { toModelMessages, trimHistory } from '../src/agent/history.js';
import type { ChatMessage } from '../src/core/messages.js';
import { evaluateExpression, ExpressionError } from '../src/agent/tools/evaluate-expression.js';
import { Transcript } from '../src/agent/transcript.js';

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

  test('code never runs: JavaScript syntax and object internals are rejected', () => {
    let exited = false;
    const realExit = process.exit;
    process.exit = (() => {
      exited = true;
    }) as typeof process.exit;
    try {
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
    } finally {
      process.exit = realExit;
    }
    assert.equal(exited, false);
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
      for (const m of out) handedOutAt.push(i);
      messages.push(...out);
    });
    messages.push(...t.finish(interrupted));
    return { messages, reply: t.reply, handedOutAt };
  }

  test('plain text becomes one assistant message, handed out at finish', () => {
    const { messages, reply, handedOutAt } = fold([tok('Hel'), tok('lo'), { type: 'finish', usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 } }]);
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
      { role: 'user', content: 'what is 2+3*4?' },
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
      { role: 'user', content: 'q1' },
      { role: 'user', content: 'q2' },
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

  test('a missing tool result is sent as JSON null', () => {
    const out = toModelMessages([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '', tool_calls: [{ id: 'x', name: 't', arguments: {} }] },
      { role: 'tool', tool_call_id: 'x', name: 't', result: undefined },
    ]);
    assert.deepEqual(out[2], { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'x', toolName: 't', output: { type: 'json', value: null } }] });
  });
});
