import { AgentApiError, NetworkError } from './errors.js';
import { readEventStream, StreamClosedEarlyError } from './read-event-stream.js';
import type { Transport } from './transport.js';
import type { Run, RunCreated, RunPage, StreamEvent } from './types.js';

/** One event of a run, with its number in the run's log (1, 2, 3…; the SSE `id:`). */
export interface RunEvent {
  id: number;
  event: StreamEvent;
}

export interface RunEventsOptions {
  /** Start after this event number (0, the default: from the first event). */
  after?: number;
  signal?: AbortSignal;
  /** Reconnections in a row that bring no new event before giving up with the NetworkError. Default 5. */
  maxRetries?: number;
  /** The pause before the first reconnection; it doubles for each one in a row, up to 5 s. Default 250 ms. */
  retryDelayMs?: number;
}

const MAX_RETRY_DELAY_MS = 5000;

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `/runs`: turns that outlive their request, read, followed, cancelled or started in the background. */
export class Runs {
  constructor(private readonly http: Transport) {}

  /** `POST /runs`: starts a turn in the background and answers at once (202). */
  async create(message: string, options: { sessionId?: string; signal?: AbortSignal } = {}): Promise<RunCreated> {
    const body = options.sessionId === undefined ? { message } : { message, session_id: options.sessionId };
    const res = await this.http.request('POST', '/runs', { body, signal: options.signal });
    return this.http.json<RunCreated>(res, options.signal);
  }

  /** The run as the service has it now: status, reply so far, tool calls, usage, error. */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<Run> {
    const res = await this.http.request('GET', `/runs/${encodeURIComponent(id)}`, { signal: options.signal });
    return this.http.json<Run>(res, options.signal);
  }

  /**
   * Asks the service to stop the run, wherever it runs. Idempotent: a run that had already ended
   * is answered as it is (a final `status`); otherwise the run as it was when asked (`running`).
   */
  async cancel(id: string, options: { signal?: AbortSignal } = {}): Promise<Run> {
    const res = await this.http.request('POST', `/runs/${encodeURIComponent(id)}/cancel`, { signal: options.signal });
    return this.http.json<Run>(res, options.signal);
  }

  /** A session's runs, newest first; pass `next_before` as `before` for the next page. */
  async list(sessionId: string, options: { limit?: number; before?: string; signal?: AbortSignal } = {}): Promise<RunPage> {
    const res = await this.http.request('GET', `/sessions/${encodeURIComponent(sessionId)}/runs`, {
      query: { limit: options.limit, before: options.before },
      signal: options.signal,
    });
    return this.http.json<RunPage>(res, options.signal);
  }

  /**
   * The run's events numbered above `after`: those already logged, then live ones, ending with
   * `end`. Each comes as `{ id, event }`; `id` is its number in the run's log, to pass as `after`
   * later. A finished run is replayed; asked past its last event, it ends at once with nothing to
   * yield. When the connection drops (or cannot be made) it reconnects by itself with
   * `Last-Event-ID` set to the last id it yielded, so no event is missed or yielded twice; it gives
   * up with the NetworkError after `maxRetries` reconnections in a row that bring nothing new. An
   * HTTP error answer is never retried: NotFoundError (`run_not_found`), RunEventsExpiredError
   * (410: the log was pruned; `get()` still has the outcome), and so on. Following never affects
   * the run: stopping (abort, break) leaves it running.
   */
  async *events(id: string, options: RunEventsOptions = {}): AsyncGenerator<RunEvent> {
    const { signal } = options;
    const maxRetries = options.maxRetries ?? 5;
    const retryDelayMs = options.retryDelayMs ?? 250;
    const path = `/runs/${encodeURIComponent(id)}/events`;
    let last = options.after ?? 0;
    let failures = 0;
    for (;;) {
      try {
        const headers: Record<string, string> = last > 0 ? { 'Last-Event-ID': String(last) } : {};
        const res = await this.http.request('GET', path, { signal, accept: 'text/event-stream', headers });
        for await (const { seq, event } of readEventStream(res, signal)) {
          if (seq === undefined) {
            const requestId = res.headers.get('x-request-id') ?? undefined;
            throw new AgentApiError('The stream sent an event without an id, so it could not be resumed', 'invalid_response', res.status, requestId);
          }
          if (seq <= last) continue; // already yielded: a resumed stream never repeats an event
          last = seq;
          failures = 0;
          yield { id: seq, event };
          if (event.type === 'end') return;
        }
        return;
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        if (err instanceof StreamClosedEarlyError && (await this.hasEnded(id, options))) return;
        if (failures >= maxRetries) throw err;
        failures++;
        await pause(Math.min(retryDelayMs * 2 ** (failures - 1), MAX_RETRY_DELAY_MS), signal);
      }
    }
  }

  /**
   * Whether the run is over. The service closes a finished run's stream without `end` when it has
   * nothing more to send (asked past its last event, or its `end` was never written), and
   * reconnecting would only get that answer again. A stream that was cut is not asked about: a
   * finished run being replayed still has events to send.
   */
  private async hasEnded(id: string, options: { signal?: AbortSignal }): Promise<boolean> {
    try {
      const { status } = await this.get(id, options);
      return status !== 'queued' && status !== 'running';
    } catch (err) {
      // Unreachable now: the reconnections decide, as for any dropped stream.
      if (err instanceof NetworkError) return false;
      throw err;
    }
  }
}
