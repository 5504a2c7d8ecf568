import { tool } from 'ai';
import { z } from 'zod';
import { evaluateExpressionValue, MAX_DIGITS } from './evaluate-expression.js';

/**
 * What the model reads. A plain `result` number is right to every digit it shows, or is an
 * ordinary double (fractions, sqrt, trig). JSON numbers past 2^53 lose digits in transit, so a
 * bigger exact integer is a string of digits marked `exact`, and a double that may have lost
 * digits says `approximate` so the model does not quote them as fact.
 */
export type CalculatorResult =
  { expression: string; result: number } | { expression: string; result: string; exact: true } | { expression: string; result: number; approximate: true };

export function calculate(expression: string): CalculatorResult {
  const v = evaluateExpressionValue(expression);
  if (v.kind === 'float') return v.approximate ? { expression, result: v.value, approximate: true } : { expression, result: v.value };
  const safe = v.value <= BigInt(Number.MAX_SAFE_INTEGER) && v.value >= BigInt(Number.MIN_SAFE_INTEGER);
  return safe ? { expression, result: Number(v.value) } : { expression, result: v.value.toString(), exact: true };
}

export const calculator = tool({
  description:
    'Evaluate an arithmetic expression. Supports + - * / % ^ (power), parentheses, ' +
    'constants pi and e, and sqrt, cbrt, abs, round, floor, ceil, sin, cos, tan, asin, acos, atan, ln, log, log2, exp, pow, min, max. ' +
    `Integer arithmetic (+ - * %, ^ with a non-negative exponent, division that comes out even, abs, min, max) is exact up to ${MAX_DIGITS} digits. ` +
    'The answer is {"result": <number>}; an exact integer beyond 9007199254740991 comes as a string of digits with "exact": true. ' +
    'Fractions and sqrt, trig, logs, pi, e are double precision (about 16 significant digits); ' +
    'when digits may have been lost the answer has "approximate": true, so call the number approximate. ' +
    'Use it for any calculation instead of computing in your head.',
  inputSchema: z.object({
    expression: z.string().min(1).max(1000).describe('The expression, e.g. "(12.5 * 4) / sqrt(16)"'),
  }),
  // A thrown error becomes a tool error the model can read and correct.
  execute: async ({ expression }) => calculate(expression),
});
