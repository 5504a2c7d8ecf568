import type { ServerResponse } from 'node:http';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const open = new WeakMap<ServerResponse, Span>();
const contexts = new WeakMap<FastifyRequest, Context>();

/**
 * Ended when the response closes: once per request, whether it finished, was a stream that ended
 * (streams hijack the reply, so Fastify's onResponse is not the one place they all pass), or the
 * client hung up first (no status then). One listener function for every response.
 */
function closed(this: ServerResponse): void {
  const span = open.get(this);
  if (!span) return;
  open.delete(this);
  if (this.headersSent) {
    span.setAttribute('http.response.status_code', this.statusCode);
    if (this.statusCode >= 500) {
      span.setAttribute('error.type', String(this.statusCode));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
  } else span.setAttribute('error.type', 'client_disconnected');
  span.end();
}

function inRequestContext(request: FastifyRequest, _reply: unknown, done: () => void): void {
  const active = contexts.get(request);
  if (active) context.with(active, done);
  else done();
}

/**
 * A server span per request, `METHOD /route/pattern` (the pattern, never the raw path: session ids
 * would make every name unique), continuing the caller's trace when it sends `traceparent`. The
 * handler runs in the span's context, so the runs it starts (and their model and tool calls) are
 * its children, and log lines written meanwhile carry its trace id.
 */
export function traceRequests(app: FastifyInstance): void {
  // The callback forms: no promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const route = request.routeOptions.url;
    const span = trace.getTracer('agent-api').startSpan(
      route === undefined ? request.method : `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'url.path': request.url.split('?')[0],
          'url.scheme': request.protocol,
          ...(route === undefined ? {} : { 'http.route': route }),
          ...(request.headers['user-agent'] ? { 'user_agent.original': request.headers['user-agent'] } : {}),
          'client.address': request.ip,
        },
      },
      parent,
    );
    contexts.set(request, trace.setSpan(parent, span));
    open.set(reply.raw, span);
    reply.raw.on('close', closed);
    done();
  });
  // After the body is read: its stream's callbacks would not carry the context set any earlier.
  app.addHook('preHandler', inRequestContext);
  // The hooks after this one (the request's log line) run inside done(): they see the span too.
  app.addHook('onResponse', inRequestContext);
}
