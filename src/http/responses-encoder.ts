import type { StreamEvent } from '../core/events.js';
import type { EventEncoder } from './send-event-stream.js';
import type { SseStream } from './sse-stream.js';
import type { ResponsesTranslator } from './responses-translator.js';

/** A run's events as the Responses API's typed stream events, those numbered above `startingAfter` only. */
export class ResponsesEncoder implements EventEncoder {
  constructor(
    private readonly translator: ResponsesTranslator,
    private readonly startingAfter = -1,
  ) {}

  write(event: StreamEvent, sse: SseStream): void {
    for (const out of this.translator.translate(event)) if (out.sequence_number > this.startingAfter) sse.named(out.type, out);
  }
}
