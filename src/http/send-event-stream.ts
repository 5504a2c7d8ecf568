import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { errorRegistry } from '../core/error-codes.js';
import type { StreamEvent } from '../core/events.js';
import { SSE_HEADERS, SseStream } from './sse-stream.js';

/** How one protocol writes the turn's events; it only translates, the pump owns the life of the stream. */
export interface EventEncoder {
  write(event: StreamEvent, sse: SseStream): void;
  /** Written after the last event while the client still listens (e.g. `data: [DONE]`). */
  close?(sse: SseStream): void;
}

export interface EventStreamOptions {
  encoder: EventEncoder;
  heartbeatMs: number;
  /** Fires when the client hangs up: nothing more is written after that. */
  hungUp: AbortSignal;
  log: FastifyBaseLogger;
  headers?: Record<string, string>;
}

/**
 * The one SSE pump for every streaming route: starts the response, pumps the events in the
 * background, and if the event source throws, sends one `internal_error` and an `end` through
 * the protocol's own encoder, so every protocol fails the same way.
 */
export function sendEventStream(reply: FastifyReply, events: AsyncIterable<StreamEvent>, options: EventStreamOptions): FastifyReply {
  const { encoder, hungUp, log } = options;
  const sse = new SseStream(options.heartbeatMs);
  let sessionId = '';
  let text = '';
  let ended = false;
  const pump = async () => {
    try {
      for await (const event of events) {
        if (event.type === 'start') sessionId = event.session_id;
        else if (event.type === 'token') text += event.content;
        else if (event.type === 'end') ended = true;
        encoder.write(event, sse);
      }
    } catch (err) {
      log.error({ err }, 'stream failed');
      if (!ended && !hungUp.aborted) {
        try {
          encoder.write({ type: 'error', code: 'internal_error', message: errorRegistry.internal_error.message }, sse);
          encoder.write({ type: 'end', session_id: sessionId, reply: text, usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 } }, sse);
        } catch (encodeErr) {
          log.error({ err: encodeErr }, 'could not report the stream failure');
        }
      }
    } finally {
      if (!hungUp.aborted) encoder.close?.(sse);
      sse.end();
    }
  };
  // In the background: the handler must return so Fastify sends the headers and pipes the body.
  void pump();
  return reply.headers({ ...SSE_HEADERS, ...options.headers }).send(sse.body);
}

/** For a client that hung up: 499 (client closed request) labels the log line; nobody receives it. */
export function answerHungUp(reply: FastifyReply): FastifyReply {
  return reply.code(499).send();
}
