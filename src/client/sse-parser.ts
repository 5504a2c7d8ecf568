/**
 * A Server-Sent Events parser for fetch bodies, layered bytes → lines → events, following the HTML
 * spec's "event stream interpretation". Browser-safe: TextDecoder and ReadableStream only.
 */

/**
 * Bytes → lines. Decodes UTF-8 incrementally (a multi-byte character split across two reads
 * survives) and splits on `\n`, `\r\n` and a lone `\r`. The partial last line is kept for the next
 * read; a `\r` ending a read is held back until the next read shows whether a `\n` follows.
 */
export class LineDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';

  decode(chunk: Uint8Array): string[] {
    return this.push(this.decoder.decode(chunk, { stream: true }));
  }

  /** End of input: returns every line still held, the partial last one included. */
  flush(): string[] {
    const lines = this.push(this.decoder.decode());
    const rest = this.buffer;
    this.buffer = '';
    if (rest.endsWith('\r')) lines.push(rest.slice(0, -1));
    else if (rest.length > 0) lines.push(rest);
    return lines;
  }

  private push(text: string): string[] {
    const lines: string[] = [];
    if (text.length === 0) return lines;
    // The held buffer has no line end in it, except possibly a trailing `\r`: scan only what is new.
    const from = this.buffer.endsWith('\r') ? this.buffer.length - 1 : this.buffer.length;
    const buf = this.buffer + text;
    let start = 0;
    for (let i = from; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c === 0x0a) {
        lines.push(buf.slice(start, i));
        start = i + 1;
      } else if (c === 0x0d) {
        if (i + 1 === buf.length) break; // wait: a `\n` may start the next read
        lines.push(buf.slice(start, i));
        if (buf.charCodeAt(i + 1) === 0x0a) i++;
        start = i + 1;
      }
    }
    this.buffer = buf.slice(start);
    return lines;
  }
}

/** One dispatched event. `id` is the stream's last event id (it carries over, as in the spec). */
export interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
  retry?: number;
}

/**
 * Lines → events. Lines starting with `:` are comments (keep-alives); `field: value` loses one
 * leading space of the value; several `data` lines join with `\n`; a blank line dispatches the
 * event if it had any data; the event type defaults to `message`. Unknown fields are ignored.
 */
export class SseDecoder {
  private data: string[] = [];
  private eventType = '';
  private lastEventId: string | undefined;
  private retry: number | undefined;

  decode(line: string): SseMessage | undefined {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retry = Number.parseInt(value, 10);
        break;
      default:
        break;
    }
    return undefined;
  }

  /**
   * End of input. Returns the half-received event (data seen, no blank line yet), if any, and
   * resets. Per the spec such an event must not be dispatched, and `parseSseStream` discards it;
   * it is returned only for callers that want to know a stream was cut mid-event.
   */
  flush(): SseMessage | undefined {
    return this.dispatch();
  }

  private dispatch(): SseMessage | undefined {
    const data = this.data;
    const event = this.eventType || 'message';
    const retry = this.retry;
    this.data = [];
    this.eventType = '';
    this.retry = undefined;
    if (data.length === 0) return undefined;
    return { event, data: data.join('\n'), id: this.lastEventId, ...(retry === undefined ? {} : { retry }) };
  }
}

/**
 * Yields each event of an SSE body as it completes. At the end of the body a half-received event
 * is not dispatched. If `signal` aborts, the body is cancelled and iteration throws the signal's
 * reason. Leaving the loop early (break, throw) cancels the body, which hangs up the connection.
 */
export async function* parseSseStream(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const lines = new LineDecoder();
  const events = new SseDecoder();
  let done = false;
  const onAbort = (): void => {
    reader.cancel(signal?.reason).catch(() => {});
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    signal?.throwIfAborted();
    for (;;) {
      let result: Awaited<ReturnType<typeof reader.read>>;
      try {
        result = await reader.read();
      } catch (err) {
        signal?.throwIfAborted();
        throw err;
      }
      signal?.throwIfAborted();
      if (result.done) break;
      for (const line of lines.decode(result.value)) {
        const message = events.decode(line);
        if (message) {
          yield message;
          signal?.throwIfAborted();
        }
      }
    }
    done = true;
    for (const line of lines.flush()) {
      const message = events.decode(line);
      if (message) yield message;
    }
    events.flush(); // a cut-off event is dropped
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
