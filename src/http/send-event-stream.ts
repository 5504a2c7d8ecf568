import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { errorRegistry } from '../core/error-codes.js';
import type { StreamEvent } from '../core/events.js';
import type { SeqEvent } from '../runs/live-log.js';
import { SSE_HEADERS, SseStream } from './sse-stream.js';

/** How one protocol writes a run's events; it only translates, the pump owns the life of the stream. */
export interface EventEncoder {
  /** `entry` is the event with its place in the run's log (the native protocol's SSE `id:`). */
  write(event: StreamEvent, sse: SseStream, entry: SeqEvent): void;
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
 * background at the client's pace (a reader that stops reading holds back only its own stream),
 * and if the event source throws, sends one `internal_error` and an `end` through the protocol's
 * own encoder, so every protocol fails the same way.
 */
export function sendEventStream(reply: FastifyReply, events: AsyncIterable<SeqEvent>, options: EventStreamOptions): FastifyReply {
  const { encoder, hungUp, log } = options;
  // The response is ours from here (see SseStream): Fastify sends nothing more, and its onResponse
  // hooks (the request's log line) still run when the response finishes.
  void reply.hijack();
  // The reply's headers (x-request-id, security, CORS…) go out as Fastify would send them; any
  // already set on the raw response stay as they are.
  const res = reply.raw;
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(reply.headers({ ...SSE_HEADERS, ...options.headers }).getHeaders())) {
    if (value !== undefined && res.getHeader(name) !== value) headers[name] = value;
  }
  res.writeHead(reply.statusCode, headers);
  flattenHeaderBlock(res);
  const sse = new SseStream(res, options.heartbeatMs);
  let sessionId = '';
  let ended = false;
  let seq = 0;
  const pump = async () => {
    try {
      for await (const entry of events) {
        const { event } = entry;
        seq = entry.seq;
        if (event.type === 'start') sessionId = event.session_id;
        else if (event.type === 'end') ended = true;
        encoder.write(event, sse, entry);
        await sse.drained();
        if (hungUp.aborted) break;
      }
    } catch (err) {
      log.error({ err }, 'stream failed');
      if (!ended && !hungUp.aborted) {
        try {
          const error: StreamEvent = { type: 'error', code: 'internal_error', message: errorRegistry.internal_error.message };
          encoder.write(error, sse, { seq: ++seq, event: error });
          // No reply text here: keeping it would hold a copy of every reply per stream. The run's
          // record (GET /runs/{id}) has what was said.
          const end: StreamEvent = {
            type: 'end',
            session_id: sessionId,
            reply: '',
            usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
            finish_reason: 'error',
          };
          encoder.write(end, sse, { seq: ++seq, event: end });
        } catch (encodeErr) {
          log.error({ err: encodeErr }, 'could not report the stream failure');
        }
      }
    } finally {
      if (!hungUp.aborted) encoder.close?.(sse);
      sse.end();
    }
  };
  // In the background, at the client's pace; the handler returns the (hijacked) reply at once.
  void pump();
  return reply;
}

/**
 * Node keeps the response's header block (`_header`) as long as the response, as the string it
 * was built into: one concatenation per piece of each header line, ~2.2 KB of string pieces for
 * our ~20 headers where the text is ~0.5 KB. Measuring its UTF-8 length makes V8 flatten it in
 * place, the same text in one piece; a stream held open for hours keeps ~1.7 KB less. Where a
 * runtime does not flatten it there, nothing changes.
 */
function flattenHeaderBlock(res: ServerResponse): void {
  const block = (res as ServerResponse & { _header?: unknown })._header;
  if (typeof block === 'string') Buffer.byteLength(block);
}

/** For a client that hung up: 499 (client closed request) labels the log line; nobody receives it. */
export function answerHungUp(reply: FastifyReply): FastifyReply {
  return reply.code(499).send();
}
