import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { cutShortAnswer } from '../client-error-handler.js';
import type { Metrics } from './metrics.js';

const replies = new WeakMap<ServerResponse, { reply: FastifyReply; metrics: Metrics }>();

/**
 * Counted when the response closes: once per request, whether it finished, was a stream that ended
 * (streams hijack the reply, so Fastify's onResponse is not the one place they all pass), or the
 * client hung up first (499 when it got nothing). One listener function for every response.
 */
function closed(this: ServerResponse): void {
  const entry = replies.get(this);
  if (!entry) return;
  replies.delete(this);
  const { reply, metrics } = entry;
  const status = cutShortAnswer(this)?.status ?? (this.writableFinished || this.headersSent ? reply.statusCode : 499);
  metrics.request(reply.request.routeOptions.url, reply.request.method, status, reply.elapsedTime / 1000);
}

/** Counts every request that reaches the hooks into `http_requests_total` and `http_request_duration_seconds`. */
export function countRequests(app: FastifyInstance, metrics: Metrics): void {
  // The callback form: no promise per request.
  app.addHook('onRequest', (_request, reply, done) => {
    replies.set(reply.raw, { reply, metrics });
    reply.raw.on('close', closed);
    done();
  });
}
