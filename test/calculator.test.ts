/**
 * The calculator tool's answers past 2^53: exact integers as digit strings, doubles that may have
 * lost digits marked approximate, and ordinary results in the `{ expression, result }` shape clients
 * already read. The evaluator's grammar and errors are covered in agent-units.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { calculate, calculator } from '../src/agent/tools/calculator.js';
import { evaluateExpression, evaluateExpressionValue, ExpressionError, MAX_DIGITS } from '../src/agent/tools/evaluate-expression.js';

const exact = (expression: string, digits: string) => assert.deepEqual(calculate(expression), { expression, result: digits, exact: true });
const plain = (expression: string, result: number) => assert.deepEqual(calculate(expression), { expression, result });
const approximate = (expression: string, result: number) => assert.deepEqual(calculate(expression), { expression, result, approximate: true });

function refuses(expression: string, pattern: RegExp): void {
  assert.throws(
    () => calculate(expression),
    (err: unknown) => err instanceof ExpressionError && pattern.test(err.message),
  );
}

describe('calculator: exact integers', () => {
  test('products past 2^53 keep every digit', () => {
    exact('123456789 * 987654321', '121932631112635269');
    assert.notEqual(BigInt(123456789 * 987654321), 121932631112635269n); // what a double would have said
  });

  test('powers, negation and remainders of big integers', () => {
    exact('2^64', '18446744073709551616');
    exact('2**64', '18446744073709551616');
    exact('-(2^63)', '-9223372036854775808');
    exact('-2^63', '-9223372036854775808');
    plain('(2^64) % 1000', 616);
    plain('-(2^64) % 1000', -616); // the sign follows the dividend, as with doubles
    exact('2^53 + 1', '9007199254740993');
    exact('2^3^4', '2417851639229258349412352'); // right-associative: 2^81
    exact('pow(3, 40)', '12157665459056928801');
    exact('(2^64 + 1) - 2^64 + 2^64', '18446744073709551617');
  });

  test('division that comes out even stays exact', () => {
    exact('10^30 / 10^10', '100000000000000000000');
    plain('(2^64 + 2^63) / 2^63', 3); // a remainder-free quotient that fits a double is a plain number
    plain('2^64 / 2^70', 0.015625); // uneven, but both sides and the quotient are exact doubles
  });

  test('abs, min and max compare exactly and return the chosen argument untouched', () => {
    exact('min(2^60+1, 2^60+2)', '1152921504606846977');
    exact('max(2^60+1, 2^60+2)', '1152921504606846978');
    exact('max(2^60+1, 0.5)', '1152921504606846977');
    plain('min(2^60+1, 0.5)', 0.5);
    exact('abs(-(2^70))', '1180591620717411303424');
    exact('floor(2^60+1)', '1152921504606846977');
  });

  test('the boundary: MAX_SAFE_INTEGER is a number, one more is a string', () => {
    plain('2^53 - 1', Number.MAX_SAFE_INTEGER);
    plain('-(2^53 - 1)', Number.MIN_SAFE_INTEGER);
    exact('2^53', '9007199254740992');
    exact('-(2^53)', '-9007199254740992');
  });

  test('integer-valued literals are integers, whatever their notation', () => {
    exact('1e20', '100000000000000000000');
    exact('12345678901234567891', '12345678901234567891');
    exact('1.5e20 + 1', '150000000000000000001');
    plain('2.0 * 3', 6);
    plain('1.5e2 + .5', 150.5);
  });
});

describe('calculator: doubles', () => {
  test('fractions and functions are doubles as before', () => {
    plain('7/2', 3.5);
    plain('sqrt(16)', 4);
    plain('(12.5 * 4) / sqrt(16)', 12.5);
    plain('0.1+0.2', 0.30000000000000004); // binary floating point; the tool description says so
    plain('1/3', 1 / 3);
    plain('2^-1', 0.5);
  });

  test('a double that may have lost digits says so', () => {
    approximate('2^64 + 0.5', 2 ** 64);
    approximate('(10^30 + 1) / 10^10', 1e20); // 10^30 + 1 has no exact double
    approximate('(2^53 + 1) * 0.5', 2 ** 52);
    approximate('12345678901234567.5', 12345678901234568);
    approximate('2.5 * 2^60', 2.5 * 2 ** 60); // right as it happens, but past 2^53 a double cannot tell
    approximate('sqrt(2^64 + 1)', 2 ** 32);
    approximate('1e-400', 0); // underflows to 0
  });

  test('the everyday shapes are unchanged', () => {
    assert.deepEqual(calculate('2+3*4'), { expression: '2+3*4', result: 14 });
    assert.deepEqual(calculate('6 * 7'), { expression: '6 * 7', result: 42 });
    assert.deepEqual(calculate('-2^2'), { expression: '-2^2', result: -4 });
    assert.deepEqual(calculate('3*-2'), { expression: '3*-2', result: -6 });
    assert.deepEqual(calculate('(2+3)*4'), { expression: '(2+3)*4', result: 20 });
  });

  test('the tool returns the same shapes', async () => {
    const run = (expression: string) => calculator.execute!({ expression }, { toolCallId: 't', messages: [] });
    assert.deepEqual(await run('2+3*4'), { expression: '2+3*4', result: 14 });
    assert.deepEqual(await run('123456789 * 987654321'), { expression: '123456789 * 987654321', result: '121932631112635269', exact: true });
    assert.ok(calculator.description?.includes('"exact": true') && calculator.description.includes('"approximate": true'));
  });
});

describe('calculator: limits and errors', () => {
  test('a huge power is refused at once instead of hanging', () => {
    const started = Date.now();
    refuses('9^9^9', /too large.*1000 digits/i);
    refuses('2^2^2^2^2', /too large/i);
    refuses('10^10^10^10', /too large/i);
    // A generous bound: computing 9^387420489 would take minutes.
    assert.ok(Date.now() - started < 1000, `refused in ${Date.now() - started} ms`);
  });

  test(`integers up to ${MAX_DIGITS} digits, not one more`, () => {
    const r = calculate(`10^${MAX_DIGITS - 1}`);
    assert.equal(r.result, `1${'0'.repeat(MAX_DIGITS - 1)}`);
    refuses(`10^${MAX_DIGITS}`, /too large/i);
    refuses(`10^${MAX_DIGITS - 1} * 10`, /too large/i);
    refuses(`1e${MAX_DIGITS}`, /too large/i);
    refuses('1e99999999999999999999', /too large/i);
    plain('1^(10^500) + (-1)^(10^500+1) + 0^(10^500)', 0); // bases 1, -1 and 0 need no size check
  });

  test('errors are thrown as before', () => {
    refuses('1/0', /division by zero/i);
    refuses('(2^64) / (2^64 - 2^64)', /division by zero/i);
    refuses('(2^64) % 0', /division by zero/i);
    refuses('0.5 % 0', /division by zero/i);
    refuses('sqrt(-1)', /not a finite number/i);
    refuses('1e308 * 10.5', /not a finite number/i); // a double overflow is an error, not Infinity
    refuses('1 / (10^400 + 0.5)', /not a finite number/i); // and not a plausible 0 after it
    refuses('exp(1000)', /not a finite number/i);
  });
});

describe('evaluateExpression (the number-valued API)', () => {
  test('gives the nearest double, and the value API says which it was', () => {
    assert.equal(evaluateExpression('2+3*4'), 14);
    assert.equal(evaluateExpression('2^64'), 2 ** 64);
    assert.deepEqual(evaluateExpressionValue('2^64'), { kind: 'integer', value: 2n ** 64n });
    assert.deepEqual(evaluateExpressionValue('2^64 + 0.5'), { kind: 'float', value: 2 ** 64, approximate: true });
    assert.throws(() => evaluateExpression('10^400'), /not a finite number/); // exact, but no double holds it
  });
});
