import type { ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';

/**
 * What to do for a response whose client hangs up before it is complete. One listener function is
 * shared by every response and finds its reply here: a closure, its scope and a once-wrapper per
 * request for each such listener were ~0.4 KB held by every open stream.
 */
interface Watch {
  reply: FastifyReply;
  onHangUp: (reply: FastifyReply) => void;
  /** Made when a route asks for the signal (hangUpSignal). */
  controller?: AbortController;
}
const watched = new WeakMap<ServerResponse, Watch>();

function closed(this: ServerResponse): void {
  const watch = watched.get(this);
  if (!watch || this.writableFinished) return;
  watch.onHangUp(watch.reply);
  watch.controller?.abort(new Error('client disconnected'));
}

function watch(reply: FastifyReply, onHangUp: (reply: FastifyReply) => void): Watch {
  const entry: Watch = { reply, onHangUp };
  watched.set(reply.raw, entry);
  // 'close' comes once: `on`, which wraps nothing, is enough.
  reply.raw.on('close', closed);
  return entry;
}

/** Calls `onHangUp` (once) if the client goes away before the response is complete. */
export function watchHangUp(reply: FastifyReply, onHangUp: (reply: FastifyReply) => void): void {
  watch(reply, onHangUp);
}

const ignore = () => {};

/** Aborts when the client goes away before the response is complete. */
export function hangUpSignal(reply: FastifyReply): AbortSignal {
  const entry = watched.get(reply.raw) ?? watch(reply, ignore);
  entry.controller ??= new AbortController();
  // The client may have gone while the turn was being set up, before anyone listened.
  if (reply.raw.closed && !reply.raw.writableFinished) entry.controller.abort(new Error('client disconnected'));
  return entry.controller.signal;
}
