import { AgentApiError, describeCause, isAbortError, NetworkError, networkError } from './errors.js';
import { parseSseStream } from './sse-parser.js';
import type { StreamEvent } from './types.js';

/**
 * The service closed the stream cleanly before `end`. Unlike a cut, that was its own doing: it
 * had nothing more to send (asked past the last event of a finished run), or it stopped serving.
 */
export class StreamClosedEarlyError extends NetworkError {}

/** An event with its number in the run's log (the SSE `id:`), when the stream sent one. */
export interface NumberedEvent {
  seq: number | undefined;
  event: StreamEvent;
}

function seqOf(id: string | undefined): number | undefined {
  return id !== undefined && /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}

/**
 * The events of one native event-stream response, up to and including `end`. Throws
 * AgentApiError `invalid_response` for a body that is not our stream, NetworkError when the
 * connection is cut mid-body or StreamClosedEarlyError (a NetworkError too) when the body ends
 * before `end` (the failures worth resuming), and the signal's reason on abort. Leaving the loop
 * early cancels the body, which hangs up.
 */
export async function* readEventStream(res: Response, signal: AbortSignal | undefined): AsyncGenerator<NumberedEvent> {
  const requestId = res.headers.get('x-request-id') ?? undefined;
  const contentType = res.headers.get('content-type') ?? '';
  if (!contentType.toLowerCase().startsWith('text/event-stream') || !res.body) {
    await res.body?.cancel().catch(() => {});
    throw new AgentApiError(`Expected an event stream, got ${contentType || 'no body'} (HTTP ${res.status})`, 'invalid_response', res.status, requestId);
  }
  let ended = false;
  try {
    for await (const message of parseSseStream(res.body, signal)) {
      if (message.event !== 'message') continue;
      let event: StreamEvent;
      try {
        event = JSON.parse(message.data) as StreamEvent;
      } catch {
        throw new AgentApiError(`The stream sent an event that is not JSON: ${message.data.slice(0, 200)}`, 'invalid_response', res.status, requestId);
      }
      yield { seq: seqOf(message.id), event };
      if (event.type === 'end') {
        ended = true;
        return;
      }
    }
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (err instanceof AgentApiError || isAbortError(err)) throw err;
    throw networkError(`The stream was cut: ${describeCause(err)}`, err, requestId);
  }
  if (!ended) throw new StreamClosedEarlyError('The stream ended before its end event', 'network_error', 0, requestId);
}
