import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { StreamEvent } from '../core/events.js';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/**
 * Events up to this size go out in one write; larger ones (an `end` carrying a long reply) in
 * slices of it, each waiting for the client, so a reader that stops reading holds at most a
 * slice of them, however large the event.
 */
const SLICE = 64 * 1024;

/** `text` cut into slices of about `size`, never between the two halves of a surrogate pair. */
function slices(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    let end = Math.min(i + size, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

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
  private readonly queue: string[] = [];
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
   * from). `json` is the event already serialised, when the log has it: shared by every reader.
   */
  send(event: StreamEvent, id: number, json: string = JSON.stringify(event)): void {
    this.frame(`id: ${id}\ndata: `, json);
  }

  /** A bare `data:` event, for protocols that number nothing (OpenAI chunks, AI SDK UI chunks). */
  data(payload: unknown): void {
    this.frame('data: ', JSON.stringify(payload));
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

  private frame(head: string, json: string): void {
    if (head.length + json.length + 2 <= SLICE) this.write(`${head}${json}\n\n`);
    else this.write(head, ...slices(json, SLICE), '\n\n');
  }

  private write(...chunks: string[]): void {
    if (!this.open) return;
    // Any write proves liveness to proxies, so the keep-alive clock restarts.
    this.heartbeat.refresh();
    this.queue.push(...chunks);
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
