/**
 * Measures each contender once per round, one at a time, the order reversed every other round
 * (A B C, C B A, …): on a shared machine whose other load drifts, no contender always goes first
 * or last. Returns each contender's results, in round order.
 */
export async function takeTurns<C, T>(contenders: readonly C[], rounds: number, measure: (c: C) => Promise<T>): Promise<Map<C, T[]>> {
  const results = new Map<C, T[]>(contenders.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    for (const c of round % 2 === 0 ? contenders : [...contenders].reverse()) results.get(c)!.push(await measure(c));
  }
  return results;
}

/** The result with the highest score. */
export function best<T>(results: readonly T[], score: (t: T) => number): T | undefined {
  return results.reduce<T | undefined>((a, b) => (a === undefined || score(b) > score(a) ? b : a), undefined);
}
