/**
 * Arithmetic for the calculator tool: a recursive-descent parser over a fixed grammar, so model
 * output can never reach `eval` or `Function`. Grammar, lowest precedence first:
 *   expr   := term (('+' | '-') term)*
 *   term   := unary (('*' | '/' | '%') unary)*
 *   unary  := ('-' | '+') unary | power
 *   power  := atom (('^' | '**') unary)?        right-associative, binds tighter than unary minus on its left
 *   atom   := number | constant | func '(' expr (',' expr)* ')' | '(' expr ')'
 *
 * Numbers: a double silently drops digits past 2^53, and the model would repeat them as fact. So
 * integers stay BigInt, exact at any size up to MAX_DIGITS, through + - * %, division that leaves
 * no remainder, ^ with a non-negative exponent, abs, min, max, floor, ceil and round. Integer-valued
 * literals (12, 2.0, 1e20) count as integers. Everything else is a double, as before, and carries
 * `approximate` when digits may have been lost: an integer that did not convert exactly, or a
 * double whose magnitude is past 2^53 (where its last integer digits are rounding).
 */
export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

/** An exact integer, or a double with whether digits may have been lost. */
export type ExpressionValue = { kind: 'integer'; value: bigint } | { kind: 'float'; value: number; approximate: boolean };

const MAX_LENGTH = 1000;
const MAX_DEPTH = 100;
/** Bounds the work and the answer's size: `9^9^9` would otherwise run for minutes and fill memory. */
export const MAX_DIGITS = 1000;
const LIMIT = 10n ** BigInt(MAX_DIGITS);
const LIMIT_BITS = BigInt(LIMIT.toString(2).length);

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

/** Functions whose value is an integer whenever their arguments are. */
const integerFunctions: Record<string, (n: bigint) => bigint> = {
  abs: (n) => (n < 0n ? -n : n),
  floor: (n) => n,
  ceil: (n) => n,
  round: (n) => n,
};

const tooLarge = (): ExpressionError => new ExpressionError(`Number too large: the calculator works with at most ${MAX_DIGITS} digits`);
const notFinite = (): ExpressionError => new ExpressionError('Result is not a finite number');

function integer(value: bigint): ExpressionValue {
  if (value >= LIMIT || value <= -LIMIT) throw tooLarge();
  return { kind: 'integer', value };
}

// Checking every step, not just the end, keeps an overflow from turning into a plausible 0 (1/10^400).
function float(value: number, approximate: boolean): ExpressionValue {
  if (!Number.isFinite(value)) throw notFinite();
  return { kind: 'float', value, approximate: approximate || Math.abs(value) > Number.MAX_SAFE_INTEGER };
}

function toFloat(v: ExpressionValue): { value: number; approximate: boolean } {
  if (v.kind === 'float') return v;
  const value = Number(v.value);
  if (!Number.isFinite(value)) throw notFinite();
  return { value, approximate: BigInt(value) !== v.value };
}

function literal(raw: string): ExpressionValue {
  const [, whole = '', fraction = '', exponent = '0'] = /^(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/i.exec(raw) ?? [];
  const digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return integer(0n);
  const significant = digits.replace(/0+$/, '');
  const shift = Number(exponent) - fraction.length + (digits.length - significant.length);
  if (shift >= 0) {
    if (significant.length + shift > MAX_DIGITS) throw tooLarge();
    return integer(BigInt(significant) * 10n ** BigInt(shift));
  }
  const value = Number(raw);
  // A nonzero literal below the smallest double reads as 0.
  return float(value, value === 0);
}

function integerPower(base: bigint, exponent: bigint): ExpressionValue {
  if (exponent === 0n) return integer(1n);
  if (base === 0n || base === 1n) return integer(base);
  if (base === -1n) return integer(exponent % 2n === 0n ? 1n : -1n);
  // |base| >= 2^(bits-1), so this lower bound on the result's size refuses 9^9^9 before BigInt starts on it.
  const bits = BigInt((base < 0n ? -base : base).toString(2).length);
  if ((bits - 1n) * exponent > LIMIT_BITS) throw tooLarge();
  return integer(base ** exponent);
}

function arithmetic(op: string, a: ExpressionValue, b: ExpressionValue): ExpressionValue {
  if ((op === '/' || op === '%') && (b.kind === 'integer' ? b.value === 0n : b.value === 0)) throw new ExpressionError('Division by zero');
  if (a.kind === 'integer' && b.kind === 'integer') {
    const [x, y] = [a.value, b.value];
    if (op === '+') return integer(x + y);
    if (op === '-') return integer(x - y);
    if (op === '*') return integer(x * y);
    if (op === '%') return integer(x % y);
    if (op === '/' && x % y === 0n) return integer(x / y);
    if (op === '^' && y >= 0n) return integerPower(x, y);
  }
  const x = toFloat(a);
  const y = toFloat(b);
  const approximate = x.approximate || y.approximate;
  if (op === '+') return float(x.value + y.value, approximate);
  if (op === '-') return float(x.value - y.value, approximate);
  if (op === '*') return float(x.value * y.value, approximate);
  if (op === '/') return float(x.value / y.value, approximate);
  if (op === '%') return float(x.value % y.value, approximate);
  return float(Math.pow(x.value, y.value), approximate);
}

function call(name: string, args: ExpressionValue[]): ExpressionValue {
  if (name === 'pow') return arithmetic('^', args[0]!, args[1]!);
  if (name === 'min' || name === 'max') {
    // `<` compares a bigint with a number exactly, so the chosen argument comes back untouched.
    return args.reduce((best, v) => ((name === 'min' ? v.value < best.value : v.value > best.value) ? v : best));
  }
  const exact = integerFunctions[name];
  const [first] = args;
  if (exact && first?.kind === 'integer') return integer(exact(first.value));
  const floats = args.map(toFloat);
  return float(
    functions[name]!.fn(...floats.map((f) => f.value)),
    floats.some((f) => f.approximate),
  );
}

type Token = { kind: 'num'; value: string; at: number } | { kind: 'id'; value: string; at: number } | { kind: 'op'; value: string; at: number };

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
    if (m[1] !== undefined) tokens.push({ kind: 'num', value: m[1], at });
    else if (m[2] !== undefined) tokens.push({ kind: 'id', value: m[2].toLowerCase(), at });
    else tokens.push({ kind: 'op', value: m[3] === '**' ? '^' : (m[3] as string), at });
    pos = re.lastIndex;
  }
  return tokens;
}

/** The exact integer or the double the expression denotes; throws ExpressionError for anything else. */
export function evaluateExpressionValue(src: string): ExpressionValue {
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

  const expr = (): ExpressionValue =>
    nest(() => {
      let v = term();
      while (isOp('+') || isOp('-')) {
        const op = tokens[i++]!.value;
        v = arithmetic(op, v, term());
      }
      return v;
    });

  const term = (): ExpressionValue => {
    let v = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = tokens[i++]!.value;
      v = arithmetic(op, v, unary());
    }
    return v;
  };

  const unary = (): ExpressionValue =>
    nest(() => {
      if (isOp('-')) {
        i++;
        const v = unary();
        return v.kind === 'integer' ? integer(-v.value) : float(-v.value, v.approximate);
      }
      if (isOp('+')) return (i++, unary());
      return power();
    });

  const power = (): ExpressionValue => {
    const base = atom();
    if (isOp('^')) {
      i++;
      return arithmetic('^', base, unary());
    }
    return base;
  };

  const atom = (): ExpressionValue => {
    const t = peek();
    if (!t) throw new ExpressionError('Unexpected end of expression');
    if (t.kind === 'num') return (i++, literal(t.value));
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
        return call(t.value, args);
      }
      const c = constants[t.value];
      if (c !== undefined) return float(c, false);
      throw new ExpressionError(`Unknown name '${t.value}' at position ${t.at + 1}`);
    }
    throw new ExpressionError(`Unexpected '${t.value}' at position ${t.at + 1}`);
  };

  if (tokens.length === 0) throw new ExpressionError('Expression is empty');
  const value = expr();
  const rest = peek();
  if (rest) throw new ExpressionError(`Unexpected '${rest.value}' at position ${rest.at + 1}`);
  return value;
}

/** The expression's value as the nearest double; `evaluateExpressionValue` says whether it is exact. */
export function evaluateExpression(src: string): number {
  return toFloat(evaluateExpressionValue(src)).value;
}
