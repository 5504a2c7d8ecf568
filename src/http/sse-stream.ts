import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { SeqEvent } from '../runs/live-log.js';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/**
 * Events up to this size go out in one write; larger ones (an `end` carrying a long reply) as
 * views of one buffer, this many bytes each, each waiting for the client: a reader that stops
 * reading holds at most one view, and every reader of the same logged event shares its buffer.
 */
const SLICE = 64 * 1024;
/**
 * Logged events from this size on are encoded once into a buffer kept on the log's entry, which
 * every reader writes as it is: readers replaying a log of large events (a late tab, a reload)
 * made a string of each per reader, garbage that grew the heap by ~4 MB per reader of a 4 MB log.
 * Smaller ones are cheaper written as strings (no buffer kept per token).
 */
const SHARED_FRAME = 1024;
/**
 * The one SSE writer. Each event is a single write of `id:` + one `data:` line, so a reader that
 * splits each network read on newlines (the seed's browser snippet) sees whole events.
 *
 * It writes to the response itself, its headers already written: a stream in between (a
 * PassThrough piped to the response, as Fastify's `send(stream)` needs, with its end-of-stream
 * watchers on both) held ~6 KB more per open stream than the response alone.
 */
export class SseStream {
  private readonly heartbeat: NodeJS.Timeout;
  /** Writes waiting for the client to take earlier ones (the slices of a large event, and what follows them). */
  private readonly queue: Array<string | Buffer> = [];
  private waiting = false;
  private ending = false;

  constructor(
    private readonly res: ServerResponse,
    heartbeatMs: number,
  ) {
    // No 'close' listener to stop it: on a closed response a beat writes nothing and re-arms
    // nothing (see write), and the pump ends the stream, clearing it, once the client is gone.
    this.heartbeat = setTimeout(() => this.beat(), heartbeatMs);
  }

  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  /**
   * One of our events, with its place in the run's log as the `id:` (what `Last-Event-ID` resumes
   * from). A large one is encoded once, on the log's entry, for every reader of it.
   */
  send(entry: SeqEvent): void {
    const json = entry.json ?? JSON.stringify(entry.event);
    if (json.length < SHARED_FRAME) this.write(`id: ${entry.seq}\ndata: ${json}\n\n`);
    else this.writeViews((entry.frame ??= Buffer.from(`id: ${entry.seq}\ndata: ${json}\n\n`)));
  }

  /** A bare `data:` event, for protocols that number nothing (OpenAI chunks, AI SDK UI chunks). */
  data(payload: unknown): void {
    const json = JSON.stringify(payload);
    if (json.length + 8 <= SLICE) this.write(`data: ${json}\n\n`);
    else this.writeViews(Buffer.from(`data: ${json}\n\n`));
  }

  /** A named event (`event:` and `data:` lines), as the Responses API streams its typed events. */
  named(name: string, payload: unknown): void {
    const frame = `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
    if (frame.length <= SLICE) this.write(frame);
    else this.writeViews(Buffer.from(frame));
  }

  /** The `data: [DONE]` terminator those protocols end with. */
  done(): void {
    this.write('data: [DONE]\n\n');
  }

  /**
   * Resolves once the client has taken what was written (or is gone). The pump waits here, so a
   * reader that stops reading holds back only its own stream, with a bounded buffer, never the run.
   */
  async drained(): Promise<void> {
    while (this.open && (this.queue.length > 0 || this.waiting || this.res.writableNeedDrain)) {
      // Whichever comes first, the other listener goes too: one is left behind per wait otherwise.
      const settled = new AbortController();
      try {
        await Promise.race([once(this.res, 'drain', { signal: settled.signal }), once(this.res, 'close', { signal: settled.signal })]);
      } finally {
        settled.abort();
      }
    }
  }

  end(): void {
    clearTimeout(this.heartbeat);
    this.ending = true;
    this.flush();
  }

  private beat(): void {
    this.write(': keep-alive\n\n');
  }

  /** `frame` as it is, or in views of SLICE bytes when larger (no copies: the views share its memory). */
  private writeViews(frame: Buffer): void {
    if (!this.open) return;
    if (frame.length <= SLICE) this.queue.push(frame);
    else for (let i = 0; i < frame.length; i += SLICE) this.queue.push(frame.subarray(i, i + SLICE));
    this.write();
  }

  private write(chunk?: string): void {
    if (!this.open) return;
    // Any write proves liveness to proxies, so the keep-alive clock restarts.
    this.heartbeat.refresh();
    if (chunk !== undefined) this.queue.push(chunk);
    this.flush();
  }

  /** Writes what is queued while the client takes it; a large event waits, slice by slice. */
  private flush(): void {
    if (this.waiting) return;
    while (this.queue.length > 0 && this.open) {
      const next = this.queue.shift() ?? '';
      if (!this.res.write(next) && this.queue.length > 0) {
        this.waiting = true;
        this.res.once('drain', () => {
          this.waiting = false;
          this.flush();
        });
        return;
      }
    }
    if (this.ending && this.open) this.res.end();
  }
}
