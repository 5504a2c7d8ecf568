import { AgentApiError, NetworkError } from '../client/index.js';

/** A failure as one line: status, code, message and the request id to quote. */
export function describeError(err: unknown): string {
  if (err instanceof NetworkError) return `${err.message}${err.requestId ? ` (request id ${err.requestId})` : ''}`;
  if (err instanceof AgentApiError) {
    const status = err.status > 0 ? `${err.status} ` : '';
    return `${status}${err.code}: ${err.message}${err.requestId ? ` (request id ${err.requestId})` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}
