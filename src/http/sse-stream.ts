import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { StreamEvent } from '../core/events.js';

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
} as const;

/**
 * The one SSE writer. Each event is a single write of `id:` + one `data:` line, so a reader that
 * splits each network read on newlines (the seed's browser snippet) sees whole events.
 */
export class SseStream {
  readonly body = new PassThrough();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(heartbeatMs: number) {
    this.heartbeat = setTimeout(() => this.beat(), heartbeatMs);
    this.body.on('close', () => clearTimeout(this.heartbeat));
  }

  get open(): boolean {
    return !this.body.destroyed && !this.body.writableEnded;
  }

  /** One of our events, with its place in the run's log as the `id:` (what `Last-Event-ID` resumes from). */
  send(event: StreamEvent, id: number): void {
    this.write(`id: ${id}\ndata: ${JSON.stringify(event)}\n\n`);
  }

  /**
   * Resolves once the client has taken what was written (or is gone). The pump waits here, so a
   * reader that stops reading holds back only its own stream, with a bounded buffer, never the run.
   */
  async drained(): Promise<void> {
    if (!this.open || !this.body.writableNeedDrain) return;
    await Promise.race([once(this.body, 'drain'), once(this.body, 'close')]);
  }

  /** A bare `data:` event, for protocols that number nothing (OpenAI chunks, AI SDK UI chunks). */
  data(payload: unknown): void {
    this.write(`data: ${JSON.stringify(payload)}\n\n`);
  }

  /** The `data: [DONE]` terminator those protocols end with. */
  done(): void {
    this.write('data: [DONE]\n\n');
  }

  end(): void {
    clearTimeout(this.heartbeat);
    if (this.open) this.body.end();
  }

  private beat(): void {
    this.write(': keep-alive\n\n');
  }

  private write(chunk: string): void {
    if (!this.open) return;
    this.body.write(chunk);
    // Any write proves liveness to proxies, so the keep-alive clock restarts.
    this.heartbeat.refresh();
  }
}
