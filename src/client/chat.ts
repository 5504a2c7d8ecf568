import { AgentApiError, describeCause, isAbortError, networkError, statusOfCode, UpstreamError } from './errors.js';
import { parseSseStream } from './sse-parser.js';
import type { Transport } from './transport.js';
import type { ChatReply, StreamEvent } from './types.js';

export interface ChatOptions {
  sessionId?: string;
  signal?: AbortSignal;
}

export interface StreamOptions extends ChatOptions {
  /** Throw an UpstreamError for a mid-stream `error` event instead of yielding it. */
  throwOnError?: boolean;
}

function chatBody(message: string, sessionId: string | undefined): { message: string; session_id?: string } {
  return sessionId === undefined ? { message } : { message, session_id: sessionId };
}

/** `POST /chat`: the whole reply at once. */
export async function chat(http: Transport, message: string, options: ChatOptions = {}): Promise<ChatReply> {
  const res = await http.request('POST', '/chat', { body: chatBody(message, options.sessionId), signal: options.signal });
  return http.json<ChatReply>(res, options.signal);
}

/** `POST /chat/stream`: the turn's events as they happen (see AgentClient.stream). */
export async function* stream(http: Transport, message: string, options: StreamOptions = {}): AsyncGenerator<StreamEvent> {
  const { signal } = options;
  const res = await http.request('POST', '/chat/stream', { body: chatBody(message, options.sessionId), signal, accept: 'text/event-stream' });
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
      if (event.type === 'error' && options.throwOnError) {
        // Whatever its code, a failure after the stream began is the turn's, reported with the code's status.
        throw new UpstreamError(event.message, event.code, statusOfCode(event.code), requestId);
      }
      yield event;
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
  if (!ended) throw networkError('The stream ended before its end event (the connection was cut)', undefined, requestId);
}
