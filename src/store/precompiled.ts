import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * A query built and compiled once, run many times with new argument values. Building and
 * compiling a Kysely query costs more than SQLite takes to run a small one, and the hot path
 * (every chat turn) runs the same handful of queries.
 *
 * `build` receives `arg(i)`, a placeholder for the i-th run-time argument; the compiled
 * parameters are searched for the placeholders, so it works for any dialect's placeholder style.
 */
export function precompile<R>(build: (arg: (i: number) => any) => Compilable<R>): (executor: Kysely<any>, ...args: unknown[]) => Promise<QueryResult<R>> {
  const marks: string[] = [];
  const arg = (i: number) => (marks[i] ??= `\u0000arg${i}\u0000`);
  const compiled: CompiledQuery<R> = build(arg).compile();
  const slots = compiled.parameters.map((p) => (typeof p === 'string' ? marks.indexOf(p) : -1));
  return (executor, ...args) =>
    executor.executeQuery<R>({ ...compiled, parameters: compiled.parameters.map((p, i) => (slots[i]! >= 0 ? args[slots[i]!] : p)) });
}
