import { FINAL_STATUSES, type Run } from '../core/runs.js';
import type { ResponseObject } from './response-object.js';
import { ResponsesTranslator, type ResponseMeta } from './responses-translator.js';

const ZERO = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };

/**
 * A response rebuilt from its run's record (a poll, a cancel): the record's events replayed in
 * the order that gives the same items, the agent's tool steps first, then the reply, then the
 * client's calls (those still unanswered when the run ended with `tool_calls`).
 */
export function responseFromRun(run: Run, meta: ResponseMeta): ResponseObject {
  const t = new ResponsesTranslator(meta);
  const sessionId = run.session_id ?? '';
  t.translate({ type: 'start', session_id: sessionId, run_id: run.id });
  const clientCalls = run.finish_reason === 'tool_calls' ? run.tool_calls.filter((c) => c.result === null) : [];
  for (const c of run.tool_calls) {
    if (c.result === null) continue;
    t.translate({ type: 'tool_call', id: c.id, name: c.name, arguments: c.arguments });
    t.translate({ type: 'tool_result', id: c.id, name: c.name, result: c.result });
  }
  if (run.reply) t.translate({ type: 'token', content: run.reply });
  for (const c of clientCalls) t.translate({ type: 'tool_call', id: c.id, name: c.name, arguments: c.arguments });
  if (!FINAL_STATUSES.includes(run.status)) return t.snapshot();
  if (run.error) t.translate({ type: 'error', code: run.error.code, message: run.error.message });
  t.translate({
    type: 'end',
    session_id: sessionId,
    reply: run.reply,
    usage: run.usage ?? ZERO,
    finish_reason: run.finish_reason ?? (run.error ? 'error' : 'stop'),
  });
  return t.snapshot();
}
