import { statusOfCode, UpstreamError } from './errors.js';
import { readEventStream } from './read-event-stream.js';
import type { Transport } from './transport.js';
import type { ChatReply, OnDisconnect, StreamEvent } from './types.js';

export interface ChatOptions {
  sessionId?: string;
  /**
   * Which agent answers (`client.agents()` lists them). Omitted: the session's agent, or the
   * default one for a new session. Another than the session's is a 409 (`session_agent_mismatch`).
   */
  agent?: string;
  signal?: AbortSignal;
  /**
   * What the service does with the run when this request hangs up (an abort, a dropped
   * connection): `cancel` stops it (the service's default), `continue` lets it finish, to be read
   * or followed through `client.runs`.
   */
  onDisconnect?: OnDisconnect;
}

export interface StreamOptions extends ChatOptions {
  /** Throw an UpstreamError for a mid-stream `error` event instead of yielding it. */
  throwOnError?: boolean;
}

interface ChatBody {
  message: string;
  session_id?: string;
  agent?: string;
  on_disconnect?: OnDisconnect;
}

function chatBody(message: string, options: ChatOptions): ChatBody {
  const body: ChatBody = { message };
  if (options.sessionId !== undefined) body.session_id = options.sessionId;
  if (options.agent !== undefined) body.agent = options.agent;
  if (options.onDisconnect !== undefined) body.on_disconnect = options.onDisconnect;
  return body;
}

/** `POST /chat`: the whole reply at once. */
export async function chat(http: Transport, message: string, options: ChatOptions = {}): Promise<ChatReply> {
  const res = await http.request('POST', '/chat', { body: chatBody(message, options), signal: options.signal });
  return http.json<ChatReply>(res, options.signal);
}

/** `POST /chat/stream`: the turn's events as they happen (see AgentClient.stream). */
export async function* stream(http: Transport, message: string, options: StreamOptions = {}): AsyncGenerator<StreamEvent> {
  const { signal } = options;
  const res = await http.request('POST', '/chat/stream', { body: chatBody(message, options), signal, accept: 'text/event-stream' });
  const requestId = res.headers.get('x-request-id') ?? undefined;
  for await (const { event } of readEventStream(res, signal)) {
    if (event.type === 'error' && options.throwOnError) {
      // Whatever its code, a failure after the stream began is the turn's, reported with the code's status.
      throw new UpstreamError(event.message, event.code, statusOfCode(event.code), requestId);
    }
    yield event;
  }
}
