import { tool } from 'ai';
import { z } from 'zod';
import { evaluateExpression } from './evaluate-expression.js';

export const calculator = tool({
  description:
    'Evaluate an arithmetic expression exactly. Supports + - * / % ^ (power), parentheses, ' +
    'constants pi and e, and sqrt, cbrt, abs, round, floor, ceil, sin, cos, tan, asin, acos, atan, ln, log, log2, exp, pow, min, max. ' +
    'Use it for any calculation instead of computing in your head.',
  inputSchema: z.object({
    expression: z.string().min(1).max(1000).describe('The expression, e.g. "(12.5 * 4) / sqrt(16)"'),
  }),
  // A thrown error becomes a tool error the model can read and correct.
  execute: async ({ expression }) => ({ expression, result: evaluateExpression(expression) }),
});
