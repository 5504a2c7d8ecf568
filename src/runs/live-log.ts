import type { StreamEvent } from '../core/events.js';
import type { LoggedEvent, RunStore } from '../store/run-store.js';

/** An event of a run with its place in the run's log (1, 2, 3…): the SSE `id:` of every stream. */
export interface SeqEvent {
  seq: number;
  event: StreamEvent;
  /** The event as JSON, when already serialised (the log's own copy, shared by every reader). */
  json?: string;
  /** A large event's SSE frame, encoded by its first reader for every later one (see SseStream.send). */
  frame?: Buffer;
}

/** Events kept in memory for followers in this process (at most this many, and about this many bytes); older ones are read back from the store. */
const MEMORY_WINDOW = 512;
const MEMORY_BYTES = 256 * 1024;
/** Appends are written in batches: one write per this many milliseconds at most, or per this many events or bytes. */
const FLUSH_MS = 20;
const FLUSH_EVENTS = 256;
const FLUSH_BYTES = 64 * 1024;

/**
 * The log of a run that this process is running: every event is numbered and kept in memory for
 * local followers, and written to the store in batches for followers anywhere else (and for
 * resuming after this process is gone). Memory stays bounded however long the reply: only the
 * newest events and those not yet written are held.
 */
export class LiveLog {
  /** Every entry here has its `json` (its size is that JSON's length). */
  private window: SeqEvent[] = [];
  private windowBytes = 0;
  private unwritten: LoggedEvent[] = [];
  private unwrittenBytes = 0;
  private written = 0;
  private last = 0;
  private ended = false;
  /** Made by the first wait, to fit it: a run has most often one follower, waiting for one event at a time. */
  private waiters: Array<() => void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  constructor(
    readonly runId: string,
    private readonly store: RunStore,
  ) {}

  get lastSeq(): number {
    return this.last;
  }

  /** About how much memory the events it holds take (their JSON's length). */
  get bytes(): number {
    return this.windowBytes;
  }

  /** True once the last event is appended. */
  get finished(): boolean {
    return this.ended;
  }

  /** The first seq still in memory; anything before it is in the store. */
  get firstInMemory(): number {
    return this.window[0]?.seq ?? this.last + 1;
  }

  append(event: StreamEvent): SeqEvent {
    const data = JSON.stringify(event);
    const entry = { seq: ++this.last, event, json: data };
    this.window.push(entry);
    this.windowBytes += data.length;
    this.unwritten.push({ seq: entry.seq, data });
    this.unwrittenBytes += data.length;
    if (this.unwritten.length >= FLUSH_EVENTS || this.unwrittenBytes >= FLUSH_BYTES) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), FLUSH_MS);
    this.trim();
    this.wake();
    return entry;
  }

  /** No more events will come. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Writes what is unwritten; resolves when everything appended so far is in the store. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.unwritten;
    this.unwritten = [];
    this.unwrittenBytes = 0;
    if (batch.length > 0) {
      // Batches are written in order, one at a time, so the store sees seq rising.
      this.writing = this.writing.then(async () => {
        if (this.failure !== undefined) return;
        try {
          await this.store.appendRunEvents(this.runId, batch);
          this.written = batch.at(-1)?.seq ?? this.written;
          this.trim();
        } catch (err) {
          this.failure = err instanceof Error ? err : new Error(String(err));
        }
      });
    }
    return this.writing.then(() => {
      if (this.failure !== undefined) throw this.failure;
    });
  }

  /**
   * Appends the last event with the run's outcome: `record` gets the events not yet written and
   * `last`, to write in one go with the outcome (the store's finishRun), and says whether it did.
   * Followers here see `last` once that is decided, as followers anywhere else do.
   */
  async close(last: StreamEvent, record: (events: LoggedEvent[]) => Promise<boolean>): Promise<boolean> {
    clearTimeout(this.timer);
    this.timer = undefined;
    // Earlier batches first, so the store sees seq rising.
    await this.writing;
    const data = JSON.stringify(last);
    const entry: SeqEvent = { seq: this.last + 1, event: last, json: data };
    const batch = [...this.unwritten, { seq: entry.seq, data }];
    this.unwritten = [];
    this.unwrittenBytes = 0;
    try {
      // After a failed write the log has a gap: the outcome is still recorded, without events.
      const recorded = await record(this.failure ? [] : batch);
      if (recorded && !this.failure) this.written = entry.seq;
      return recorded;
    } finally {
      this.last = entry.seq;
      this.window.push(entry);
      this.windowBytes += data.length;
      this.ended = true;
      this.wake();
    }
  }

  /** The events after `after` that are still in memory (empty if `after` is before the window). */
  since(after: number): SeqEvent[] {
    const first = this.firstInMemory;
    if (after + 1 < first) return [];
    return this.window.slice(after + 1 - first);
  }

  /** Resolves when an event after `after` exists, the log ends, or `signal` fires. */
  wait(after: number, signal: AbortSignal): Promise<void> {
    if (this.last > after || this.ended || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      if (this.waiters) this.waiters.push(done);
      else this.waiters = [done];
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = undefined;
    if (waiters) for (const resolve of waiters) resolve();
  }

  /** Drops the oldest events beyond the window, but never one the store does not have yet. */
  private trim(): void {
    // Trimmed in batches: slicing on every append would copy the window once per token.
    const tooMany = this.window.length >= MEMORY_WINDOW * 1.5;
    const tooBig = this.windowBytes >= MEMORY_BYTES * 1.5;
    if (!tooMany && !tooBig) return;
    let drop = 0;
    let bytes = this.windowBytes;
    while (drop < this.window.length && (this.window[drop]?.seq ?? Infinity) <= this.written) {
      if (this.window.length - drop <= MEMORY_WINDOW && bytes <= MEMORY_BYTES) break;
      bytes -= this.window[drop]?.json?.length ?? 0;
      drop++;
    }
    if (drop === 0) return;
    this.window = this.window.slice(drop);
    this.windowBytes = bytes;
  }
}
