import {
  AgentApiError,
  AuthenticationError,
  NetworkError,
  NotConfiguredError,
  NotFoundError,
  RateLimitError,
  SessionBusyError,
  UpstreamError,
  ValidationError,
} from '../client/index.js';

function withRequestId(text: string, err: AgentApiError): string {
  return err.requestId && err.status >= 500 ? `${text} (request id ${err.requestId})` : text;
}

/** Any failure in plain words, with what to do about it. */
export function describeError(err: unknown, midStream = false): string {
  if (err instanceof AuthenticationError) {
    return 'That API key was not accepted. Check it (a key from VALID_API_KEYS, or the one the service printed at start) and enter it again under “API key”.';
  }
  if (err instanceof SessionBusyError) {
    return 'This session is still answering an earlier message. Wait until that reply has finished, or start a new chat.';
  }
  if (err instanceof NotConfiguredError) return `The service cannot answer yet: ${err.message}`;
  if (err instanceof RateLimitError) return `Too many requests with this key: ${err.message}`;
  if (err instanceof NotFoundError) return 'That session no longer exists (it was deleted, or belongs to another key).';
  if (err instanceof ValidationError) return `The service refused the message: ${err.message}`;
  if (err instanceof UpstreamError) {
    return withRequestId(err.code === 'upstream_timeout' ? 'The model did not answer in time. Try again.' : `The model provider failed: ${err.message}`, err);
  }
  if (err instanceof NetworkError || err instanceof TypeError) {
    if (!navigator.onLine) return 'You appear to be offline. Check the network connection and try again.';
    return midStream
      ? 'The connection to the service was lost before the reply finished. What arrived is shown above; try again.'
      : 'Could not reach the service. The network may be down or the service stopped; try again in a moment.';
  }
  if (err instanceof AgentApiError) return withRequestId(err.message, err);
  return `Something went wrong: ${err instanceof Error ? err.message : String(err)}`;
}
