/**
 * The TypeScript client of agent-api, for browsers and Node alike (fetch, TextDecoder,
 * ReadableStream and AbortSignal only; nothing from the server but types).
 */
import { chat, stream, type ChatOptions, type StreamOptions } from './chat.js';
import { Keys } from './keys.js';
import { Runs } from './runs.js';
import { Sessions } from './sessions.js';
import { Transport } from './transport.js';
import type { ChatReply, StreamEvent, UsageReport } from './types.js';

/** `GET /usage`'s query: dates as `YYYY-MM-DD` (UTC) or ISO-8601 times with a zone. */
export interface UsageOptions {
  from?: string;
  to?: string;
  groupBy?: 'day' | 'session' | 'model' | 'agent' | 'key';
  /** Admin only. */
  keyId?: string;
  limit?: number;
  signal?: AbortSignal;
}

export interface AgentClientOptions {
  /** e.g. 'http://127.0.0.1:8000'; '' (relative URLs) or location.origin in the browser. */
  baseUrl: string;
  apiKey: string;
  /** Default: globalThis.fetch. */
  fetch?: typeof fetch;
}

export class AgentClient {
  readonly sessions: Sessions;
  readonly runs: Runs;
  /** Managed keys: only with the service's ADMIN_API_KEY as this client's key. */
  readonly keys: Keys;
  private readonly http: Transport;

  constructor(options: AgentClientOptions) {
    // Called unbound, window.fetch throws "Illegal invocation"; look it up per call so it can be replaced.
    this.http = new Transport(options.baseUrl, options.apiKey, options.fetch ?? ((input, init) => globalThis.fetch(input, init)));
    this.sessions = new Sessions(this.http);
    this.runs = new Runs(this.http);
    this.keys = new Keys(this.http);
  }

  /** Tokens used (`GET /usage`): this key's, or with the admin key every key's. */
  async usage(options: UsageOptions = {}): Promise<UsageReport> {
    const query = { from: options.from, to: options.to, group_by: options.groupBy, key_id: options.keyId, limit: options.limit };
    const res = await this.http.request('GET', '/usage', { query, signal: options.signal });
    return this.http.json<UsageReport>(res, options.signal);
  }

  /** The names of the agents the service serves (`GET /v1/models`), the default one first. */
  async agents(options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const res = await this.http.request('GET', '/v1/models', { signal: options.signal });
    const list = await this.http.json<{ data: Array<{ id: string }> }>(res, options.signal);
    return list.data.map((m) => m.id);
  }

  /** The whole reply once the turn is done. */
  chat(message: string, options: ChatOptions = {}): Promise<ChatReply> {
    return chat(this.http, message, options);
  }

  /**
   * Async iterable of the server's StreamEvent union, `start` first, `end` last. An `error` event is
   * yielded as an event AND then iteration continues to `end`; pass { throwOnError: true } to throw
   * UpstreamError instead. HTTP errors before the stream throw the typed error. Abort via signal ends
   * iteration by throwing the signal's reason (an AbortError DOMException). A stream that stops
   * before `end` throws NetworkError. Leaving the loop early hangs up, which cancels the run
   * (the model stops) unless `onDisconnect: 'continue'`. The n-th event yielded is event n of the
   * run `start` names, so after a cut `runs.events(start.run_id, { after: eventsSeen })` resumes
   * a run started with `onDisconnect: 'continue'`.
   */
  stream(message: string, options: StreamOptions = {}): AsyncIterable<StreamEvent> {
    return stream(this.http, message, options);
  }
}
