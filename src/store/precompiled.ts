import type { Compilable, CompiledQuery, QueryResult } from 'kysely';

/** What runs a compiled query: a Kysely instance or a transaction. */
export interface QueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/**
 * A query built and compiled once, run many times with new argument values. Building and
 * compiling a Kysely query costs more than SQLite takes to run a small one, and the hot path
 * (every chat turn) runs the same handful of queries.
 *
 * `build` receives `arg(i)`, a placeholder for the i-th run-time argument; the compiled
 * parameters are searched for the placeholders, so it works for any dialect's placeholder style.
 * A placeholder is typed `never` so it fits any column: the real values' types are the caller's
 * to get right, as with any positional SQL parameter.
 */
export function precompile<R>(build: (arg: (i: number) => never) => Compilable<R>): (executor: QueryRunner, ...args: unknown[]) => Promise<QueryResult<R>> {
  const marks: string[] = [];
  const arg = (i: number): never => (marks[i] ??= `\u0000arg${i}\u0000`) as never;
  const compiled: CompiledQuery<R> = build(arg).compile();
  const slots = compiled.parameters.map((p) => (typeof p === 'string' ? marks.indexOf(p) : -1));
  return (executor, ...args) =>
    executor.executeQuery<R>({ ...compiled, parameters: compiled.parameters.map((p, i) => (slots[i]! >= 0 ? args[slots[i]!] : p)) });
}
