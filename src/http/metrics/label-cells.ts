/** One series of a counter: its labels (made once) and its count. */
export interface Cell {
  readonly labels: Readonly<Record<string, string>>;
  value: number;
}

type Key = string | number;

/**
 * The series of one counter, found by their label values through nested maps: counting an event
 * is a few map lookups and an addition, with no label object or hash string made per event
 * (prom-client's own `inc(labels)` builds both each time). prom-client reads the cells when it is
 * scraped (`collect`). Up to three labels.
 */
export class LabelCells {
  private readonly root = new Map<Key, Map<Key, Map<Key, Cell>>>();
  readonly all: Cell[] = [];

  constructor(readonly names: readonly string[]) {
    if (names.length > 3) throw new TypeError('LabelCells: at most three labels');
  }

  cell(a: Key, b: Key = '', c: Key = ''): Cell {
    let second = this.root.get(a);
    if (!second) this.root.set(a, (second = new Map<Key, Map<Key, Cell>>()));
    let third = second.get(b);
    if (!third) second.set(b, (third = new Map<Key, Cell>()));
    let cell = third.get(c);
    if (!cell) {
      const values = [a, b, c];
      const labels: Record<string, string> = {};
      this.names.forEach((name, i) => (labels[name] = String(values[i])));
      cell = { labels, value: 0 };
      third.set(c, cell);
      this.all.push(cell);
    }
    return cell;
  }
}
