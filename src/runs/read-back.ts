import type { StreamEvent } from '../core/events.js';
import type { RunStore } from '../store/run-store.js';
import type { SeqEvent } from './live-log.js';

interface Kept {
  entry: SeqEvent;
  until: number;
  bytes: number;
}

/**
 * Run log reads from the store, shared by every reader in this process. An event read back is
 * kept a few seconds (a logged event never changes), parsed once, with its SSE frame once encoded:
 * readers replaying the same log (the tabs of a reloaded page, followers on another replica) get
 * one query per page and one copy of each event between them; concurrent reads of the same page
 * are one query. Without it, 50 readers joining a run with a 4 MB reply each made their own
 * copy of every event, a heap growth of ~4 MB per reader.
 */
export class ReadBack {
  /** By run and seq, in the order kept, so the oldest (first to expire) come first. */
  private readonly kept = new Map<string, Kept>();
  private readonly reading = new Map<string, Promise<SeqEvent[]>>();
  private bytes = 0;

  constructor(
    private readonly store: RunStore,
    private readonly keepMs = 5_000,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  /** Events with seq above `after`, in order, at most `limit` (as RunStore.readRunEvents). */
  async read(runId: string, after: number, limit: number): Promise<SeqEvent[]> {
    const now = Date.now();
    this.forget(now);
    const cached: SeqEvent[] = [];
    for (let seq = after + 1; cached.length < limit; seq++) {
      const kept = this.kept.get(key(runId, seq));
      if (!kept) break;
      cached.push(kept.entry);
    }
    if (cached.length > 0) return cached;
    const page = `${key(runId, after)}\n${limit}`;
    let reading = this.reading.get(page);
    if (!reading) {
      reading = this.query(runId, after, limit).finally(() => this.reading.delete(page));
      this.reading.set(page, reading);
    }
    return reading;
  }

  private async query(runId: string, after: number, limit: number): Promise<SeqEvent[]> {
    const rows = await this.store.readRunEvents(runId, after, limit);
    const until = Date.now() + this.keepMs;
    return rows.map((row) => {
      const k = key(runId, row.seq);
      const known = this.kept.get(k);
      if (known) return known.entry;
      const entry: SeqEvent = { seq: row.seq, event: JSON.parse(row.data) as StreamEvent, json: row.data };
      // Its JSON, the parsed event and a large one's frame: about three times the JSON.
      const bytes = row.data.length * 3;
      this.kept.set(k, { entry, until, bytes });
      this.bytes += bytes;
      this.trim();
      return entry;
    });
  }

  private forget(now: number): void {
    for (const [k, kept] of this.kept) {
      if (kept.until > now) return;
      this.drop(k, kept);
    }
  }

  private trim(): void {
    for (const [k, kept] of this.kept) {
      if (this.bytes <= this.maxBytes) return;
      this.drop(k, kept);
    }
  }

  private drop(k: string, kept: Kept): void {
    this.kept.delete(k);
    this.bytes -= kept.bytes;
  }
}

const key = (runId: string, seq: number) => `${runId}\n${seq}`;
