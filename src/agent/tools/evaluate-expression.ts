/**
 * Arithmetic for the calculator tool: a recursive-descent parser over a fixed grammar, so model
 * output can never reach `eval` or `Function`. Grammar, lowest precedence first:
 *   expr   := term (('+' | '-') term)*
 *   term   := unary (('*' | '/' | '%') unary)*
 *   unary  := ('-' | '+') unary | power
 *   power  := atom (('^' | '**') unary)?        right-associative, binds tighter than unary minus on its left
 *   atom   := number | constant | func '(' expr (',' expr)* ')' | '(' expr ')'
 */
export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

const MAX_LENGTH = 1000;
const MAX_DEPTH = 100;

const constants: Record<string, number> = { pi: Math.PI, e: Math.E, tau: 2 * Math.PI };

const functions: Record<string, { arity: [number, number]; fn: (...a: number[]) => number }> = {
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  cbrt: { arity: [1, 1], fn: Math.cbrt },
  abs: { arity: [1, 1], fn: Math.abs },
  round: { arity: [1, 1], fn: Math.round },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
  sin: { arity: [1, 1], fn: Math.sin },
  cos: { arity: [1, 1], fn: Math.cos },
  tan: { arity: [1, 1], fn: Math.tan },
  asin: { arity: [1, 1], fn: Math.asin },
  acos: { arity: [1, 1], fn: Math.acos },
  atan: { arity: [1, 1], fn: Math.atan },
  ln: { arity: [1, 1], fn: Math.log },
  log: { arity: [1, 2], fn: (x, base) => (base === undefined ? Math.log10(x) : Math.log(x) / Math.log(base)) },
  log2: { arity: [1, 1], fn: Math.log2 },
  exp: { arity: [1, 1], fn: Math.exp },
  pow: { arity: [2, 2], fn: Math.pow },
  min: { arity: [1, 100], fn: Math.min },
  max: { arity: [1, 100], fn: Math.max },
};

type Token = { kind: 'num'; value: number; at: number } | { kind: 'id'; value: string; at: number } | { kind: 'op'; value: string; at: number };

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  const re = /\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_]*)|(\*\*|[-+*/%^(),]))/y;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(src);
    if (!m) throw new ExpressionError(`Unexpected character '${src.slice(pos).trim()[0]}' at position ${pos + 1}`);
    const at = pos + (m[0].length - m[0].trimStart().length);
    if (m[1] !== undefined) tokens.push({ kind: 'num', value: Number(m[1]), at });
    else if (m[2] !== undefined) tokens.push({ kind: 'id', value: m[2].toLowerCase(), at });
    else tokens.push({ kind: 'op', value: m[3] === '**' ? '^' : (m[3] as string), at });
    pos = re.lastIndex;
  }
  return tokens;
}

export function evaluateExpression(src: string): number {
  if (src.length > MAX_LENGTH) throw new ExpressionError(`Expression is longer than ${MAX_LENGTH} characters`);
  const tokens = tokenize(src);
  let i = 0;
  let depth = 0;

  const peek = (): Token | undefined => tokens[i];
  const isOp = (v: string): boolean => {
    const t = tokens[i];
    return t !== undefined && t.kind === 'op' && t.value === v;
  };
  const expectOp = (v: string): void => {
    if (!isOp(v)) {
      const t = peek();
      throw new ExpressionError(t ? `Expected '${v}' at position ${t.at + 1}` : `Expected '${v}' at end of expression`);
    }
    i++;
  };
  const nest = <T>(f: () => T): T => {
    if (++depth > MAX_DEPTH) throw new ExpressionError('Expression is nested too deeply');
    try {
      return f();
    } finally {
      depth--;
    }
  };

  const expr = (): number =>
    nest(() => {
      let v = term();
      while (isOp('+') || isOp('-')) v = tokens[i++]!.value === '+' ? v + term() : v - term();
      return v;
    });

  const term = (): number => {
    let v = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = tokens[i++]!.value;
      const r = unary();
      if ((op === '/' || op === '%') && r === 0) throw new ExpressionError('Division by zero');
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };

  const unary = (): number =>
    nest(() => {
      if (isOp('-')) return (i++, -unary());
      if (isOp('+')) return (i++, unary());
      return power();
    });

  const power = (): number => {
    const base = atom();
    if (isOp('^')) {
      i++;
      return Math.pow(base, unary());
    }
    return base;
  };

  const atom = (): number => {
    const t = peek();
    if (!t) throw new ExpressionError('Unexpected end of expression');
    if (t.kind === 'num') return (i++, t.value);
    if (t.kind === 'op' && t.value === '(') {
      i++;
      const v = expr();
      expectOp(')');
      return v;
    }
    if (t.kind === 'id') {
      i++;
      const fn = functions[t.value];
      if (fn) {
        expectOp('(');
        const args = [expr()];
        while (isOp(',')) {
          i++;
          args.push(expr());
        }
        expectOp(')');
        const [lo, hi] = fn.arity;
        if (args.length < lo || args.length > hi) {
          throw new ExpressionError(`${t.value}() takes ${lo === hi ? lo : `${lo} to ${hi}`} argument(s), got ${args.length}`);
        }
        return fn.fn(...args);
      }
      const c = constants[t.value];
      if (c !== undefined) return c;
      throw new ExpressionError(`Unknown name '${t.value}' at position ${t.at + 1}`);
    }
    throw new ExpressionError(`Unexpected '${t.value}' at position ${t.at + 1}`);
  };

  if (tokens.length === 0) throw new ExpressionError('Expression is empty');
  const value = expr();
  const rest = peek();
  if (rest) throw new ExpressionError(`Unexpected '${rest.value}' at position ${rest.at + 1}`);
  if (!Number.isFinite(value)) throw new ExpressionError('Result is not a finite number');
  return value;
}
