/**
 * The run routes the playground needs and AgentClient does not offer yet: a streamed message that
 * outlives the page (`on_disconnect: "continue"`), a run's events from a given seq, the run itself,
 * and cancelling it. Built on the client's own Transport, SSE parser and error classes, so failures
 * are the same typed errors as everywhere else; once `client.runs` lands this file shrinks to it.
 */
import { AgentApiError, parseSseStream, type StreamEvent } from '../client/index.js';
import { describeCause, isAbortError, networkError } from '../client/errors.js';
import { Transport } from '../client/transport.js';

/** An event and its number in the run (the SSE `id:`), which `events({ after })` resumes from. */
export interface SeqEvent {
  seq: number | undefined;
  event: StreamEvent;
}

/** What the playground reads of a run (`GET /runs/{run_id}`). */
export interface RunInfo {
  id: string;
  session_id: string | null;
  status: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';
  created_at: string;
}

export class RunApi {
  private readonly http: Transport;

  constructor(baseUrl: string, apiKey: string) {
    // Called unbound, window.fetch throws "Illegal invocation".
    this.http = new Transport(baseUrl, apiKey, (input, init) => globalThis.fetch(input, init));
  }

  /** `POST /chat/stream` with `on_disconnect: "continue"`: closing or reloading the page does not stop the run. */
  chatStream(message: string, options: { sessionId?: string | undefined; signal: AbortSignal }): AsyncGenerator<SeqEvent> {
    const body = { message, on_disconnect: 'continue', ...(options.sessionId === undefined ? {} : { session_id: options.sessionId }) };
    return this.eventStream('POST', '/chat/stream', { body }, options.signal);
  }

  /** `GET /runs/{run_id}/events?after=N`: the events numbered above `after`, then live until `end`. */
  events(runId: string, options: { after: number; signal: AbortSignal }): AsyncGenerator<SeqEvent> {
    return this.eventStream('GET', `/runs/${encodeURIComponent(runId)}/events`, { query: { after: options.after } }, options.signal);
  }

  async get(runId: string, signal?: AbortSignal): Promise<RunInfo> {
    const res = await this.http.request('GET', `/runs/${encodeURIComponent(runId)}`, { signal });
    return this.http.json<RunInfo>(res, signal);
  }

  /** `POST /runs/{run_id}/cancel`: stops the run wherever it runs (a run that has ended is left as it is). */
  async cancel(runId: string): Promise<RunInfo> {
    const res = await this.http.request('POST', `/runs/${encodeURIComponent(runId)}/cancel`);
    return this.http.json<RunInfo>(res, undefined);
  }

  private async *eventStream(
    method: string,
    path: string,
    options: { body?: unknown; query?: Record<string, number> },
    signal: AbortSignal,
  ): AsyncGenerator<SeqEvent> {
    const res = await this.http.request(method, path, { ...options, signal, accept: 'text/event-stream' });
    const requestId = res.headers.get('x-request-id') ?? undefined;
    const contentType = res.headers.get('content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('text/event-stream') || !res.body) {
      await res.body?.cancel().catch(() => {});
      throw new AgentApiError(`Expected an event stream, got ${contentType || 'no body'} (HTTP ${res.status})`, 'invalid_response', res.status, requestId);
    }
    try {
      for await (const message of parseSseStream(res.body, signal)) {
        if (message.event !== 'message') continue;
        let event: StreamEvent;
        try {
          event = JSON.parse(message.data) as StreamEvent;
        } catch {
          throw new AgentApiError(`The stream sent an event that is not JSON: ${message.data.slice(0, 200)}`, 'invalid_response', res.status, requestId);
        }
        const seq = message.id === undefined ? undefined : Number.parseInt(message.id, 10);
        yield { seq: Number.isFinite(seq) ? seq : undefined, event };
        if (event.type === 'end') return;
      }
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof AgentApiError || isAbortError(err)) throw err;
      throw networkError(`The stream was cut: ${describeCause(err)}`, err, requestId);
    }
    throw networkError('The stream ended before its end event (the connection was cut)', undefined, requestId);
  }
}
