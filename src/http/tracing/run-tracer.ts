import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { Agent } from '../../agent/agent.js';
import { RECORD_GEN_AI_CONTENT } from '../../agent/gen-ai-spans.js';
import type { ObservedEnd, ObservedRun, RunObserver } from '../../runs/run-observer.js';

interface RunSpan {
  span: Span;
  /** The context the run executes in: its span, and whether contents are recorded. */
  context: Context;
}

const textMessage = (role: string, content: string, finishReason?: string) =>
  JSON.stringify([{ role, parts: [{ type: 'text', content }], ...(finishReason ? { finish_reason: finishReason } : {}) }]);

/**
 * `invoke_agent {agent}`, one span per run, a child of the request that started it (the run may
 * outlive it: background and resumed runs). The agent's `chat` and `execute_tool` spans hang from
 * it because the run executes in its context.
 */
export function runTracer(options: { recordContent: boolean }): RunObserver<RunSpan> {
  const { recordContent } = options;
  return {
    onRunStart(agent: Agent, run: ObservedRun): RunSpan {
      const parent = context.active();
      const span = trace.getTracer('agent-api').startSpan(
        `invoke_agent ${agent.name}`,
        {
          kind: SpanKind.INTERNAL,
          attributes: {
            'gen_ai.operation.name': 'invoke_agent',
            'gen_ai.agent.name': agent.name,
            'agent_api.run.id': run.id,
            ...(agent.modelName ? { 'gen_ai.request.model': agent.modelName } : {}),
            ...(run.sessionId ? { 'gen_ai.conversation.id': run.sessionId } : {}),
          },
        },
        parent,
      );
      if (recordContent && run.message !== undefined) span.setAttribute('gen_ai.input.messages', textMessage('user', run.message));
      const active = trace.setSpan(parent, span);
      return { span, context: recordContent ? active.setValue(RECORD_GEN_AI_CONTENT, true) : active };
    },
    // Nothing per event: what the span needs comes with the end.
    onEvent() {},
    onRunEnd({ span }: RunSpan, end: ObservedEnd): void {
      if (end.usage) {
        span.setAttribute('gen_ai.usage.input_tokens', end.usage.input_tokens);
        span.setAttribute('gen_ai.usage.output_tokens', end.usage.output_tokens);
      }
      span.setAttribute('gen_ai.response.finish_reasons', [end.finishReason]);
      if (recordContent) span.setAttribute('gen_ai.output.messages', textMessage('assistant', end.reply, end.finishReason));
      if (end.errorCode) {
        span.setAttribute('error.type', end.errorCode);
        span.setStatus({ code: SpanStatusCode.ERROR, message: end.errorMessage ?? end.errorCode });
      }
      span.end();
    },
    around: <T>(state: RunSpan, work: () => T): T => context.with(state.context, work),
  };
}
