import { trace } from '@opentelemetry/api';

/**
 * pino's `mixin`: the active span's ids on every log line written inside it, so a line leads to its
 * trace. A new object every time: pino merges the line's own fields into what this returns.
 */
export function traceLogFields(): object {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}
