import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { ApiError, errorBody } from './errors.js';

/** Responses whose request the HTTP server cut short (timeout) with an answer written here. */
const cutShort = new WeakMap<ServerResponse, { status: number; code: string }>();

/** What was written for a request the server cut short, if it was (its request line and metrics use it). */
export function cutShortAnswer(response: ServerResponse): { status: number; code: string } | undefined {
  return cutShort.get(response);
}

function apiErrorFor(error: NodeJS.ErrnoException): ApiError {
  switch (error.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new ApiError('request_timeout');
    case 'HPE_INVALID_METHOD':
      // No route answers a method Node's parser does not even know (FOO); QUERY, which it knows, gets the same 404 from the router.
      return new ApiError('route_not_found', 'No route answers this HTTP method');
    case 'HPE_HEADER_OVERFLOW':
      return new ApiError('validation_error', 'The request headers are too large');
    default:
      return new ApiError('validation_error', 'The request is not valid HTTP');
  }
}

export interface ClientErrorOptions {
  /** Counts a request that no route saw (`unmatched` in the metrics). */
  countUnmatched: (status: number) => void;
}

/**
 * Answers what Node's HTTP parser or its request timeout refuses before Fastify sees a request
 * (Node and Fastify write their own bare bodies): our error shape, one info line, no stack, and
 * the connection closed, since the rest of what the client sends cannot be trusted to frame a request.
 */
export function clientErrorHandler({ countUnmatched }: ClientErrorOptions) {
  // Fastify calls it with the app as `this` (it is made before the app, whose logger it needs).
  return function (this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
    // A reset connection has nothing left to answer; one that ended mid-request is a client that
    // hung up (a request already routed has its own line, with 499).
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    if (error.code === 'HPE_INVALID_EOF_STATE') {
      socket.destroy();
      return;
    }
    const apiError = apiErrorFor(error);
    // A request Fastify already routes (its body is what stalled) owns the request line and the count.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    const requestId = randomUUID();
    if (inFlight) cutShort.set(inFlight, { status: apiError.status, code: apiError.code });
    else {
      this.log.info({ request_id: requestId, status: apiError.status, code: apiError.code, reason: error.code }, 'request refused before routing');
      countUnmatched(apiError.status);
    }
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(errorBody(apiError, requestId));
      socket.write(
        `HTTP/1.1 ${apiError.status} ${STATUS_CODES[apiError.status] ?? ''}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
