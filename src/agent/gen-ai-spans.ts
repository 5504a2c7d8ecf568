import type { LanguageModelV3, LanguageModelV3CallOptions, LanguageModelV3Message } from '@ai-sdk/provider';
import { context, createContextKey, SpanKind, SpanStatusCode, trace, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { AgentError } from './agent-error.js';
import type { ModelStep } from './stream-model-step.js';

/**
 * Set to true in the context a run executes in (by whoever traces runs) to have prompts, replies
 * and tool arguments and results recorded on the spans; they are left out otherwise, since they
 * may hold what users would not want in a tracing backend.
 */
export const RECORD_GEN_AI_CONTENT = createContextKey('agent-api: record gen_ai content');

/** The spans of one turn: a model call or a tool call each, children of the context the turn started in. */
export interface TurnSpans {
  tracer: Tracer;
  parent: Context;
  recordContent: boolean;
}

/**
 * Read when the turn starts. Asked of the API each turn, not kept: a tracer taken before the SDK
 * is registered (or after it is shut down) would stay a no-op or keep a stopped provider.
 */
export function turnSpans(): TurnSpans {
  const parent = context.active();
  return { tracer: trace.getTracer('agent-api'), parent, recordContent: parent.getValue(RECORD_GEN_AI_CONTENT) === true };
}

/** gen_ai.provider.name for the AI SDK's provider ids ("openai.chat", "anthropic.messages"…), when it names a known one. */
const PROVIDERS: Record<string, string> = { openai: 'openai', anthropic: 'anthropic', google: 'gcp.gemini', 'google.generative-ai': 'gcp.gemini' };

function providerName(model: LanguageModelV3): string | undefined {
  const id = model.provider;
  return PROVIDERS[id.split('.')[0] ?? ''] ?? PROVIDERS[id];
}

/** Messages in the GenAI semantic conventions' shape (role + parts), as the JSON the attributes hold. */
function messagesJson(messages: readonly LanguageModelV3Message[]): string {
  return JSON.stringify(
    messages.map((m) => ({
      role: m.role,
      parts:
        typeof m.content === 'string'
          ? [{ type: 'text', content: m.content }]
          : m.content.map((p) => {
              switch (p.type) {
                case 'text':
                case 'reasoning':
                  return { type: p.type, content: p.text };
                case 'tool-call':
                  return { type: 'tool_call', id: p.toolCallId, name: p.toolName, arguments: p.input };
                case 'tool-result':
                  return { type: 'tool_call_response', id: p.toolCallId, response: p.output };
                default:
                  return { type: p.type };
              }
            }),
    })),
  );
}

/** A model call's span: `chat {model}`. */
export function startChatSpan(spans: TurnSpans, model: LanguageModelV3, call: LanguageModelV3CallOptions): Span {
  const span = spans.tracer.startSpan(
    `chat ${model.modelId}`,
    { kind: SpanKind.CLIENT, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model.modelId } },
    spans.parent,
  );
  if (!span.isRecording()) return span;
  const provider = providerName(model);
  if (provider) span.setAttribute('gen_ai.provider.name', provider);
  if (call.temperature !== undefined) span.setAttribute('gen_ai.request.temperature', call.temperature);
  if (call.topP !== undefined) span.setAttribute('gen_ai.request.top_p', call.topP);
  if (call.maxOutputTokens !== undefined) span.setAttribute('gen_ai.request.max_tokens', call.maxOutputTokens);
  if (call.seed !== undefined) span.setAttribute('gen_ai.request.seed', call.seed);
  if (spans.recordContent) span.setAttribute('gen_ai.input.messages', messagesJson(call.prompt));
  return span;
}

/** The finish reason as the conventions spell them (`tool_calls`, `content_filter`). */
const finishReason = (reason: ModelStep['finishReason']) => reason.replace('-', '_');

export function endChatSpan(spans: TurnSpans, span: Span, step: ModelStep): void {
  if (span.isRecording()) {
    span.setAttributes({
      'gen_ai.usage.input_tokens': step.usage.input_tokens,
      'gen_ai.usage.output_tokens': step.usage.output_tokens,
      'gen_ai.response.finish_reasons': [finishReason(step.finishReason)],
    });
    if (spans.recordContent) {
      const parts: unknown[] = step.text ? [{ type: 'text', content: step.text }] : [];
      for (const c of step.calls) parts.push({ type: 'tool_call', id: c.id, name: c.name, arguments: c.input });
      span.setAttribute('gen_ai.output.messages', JSON.stringify([{ role: 'assistant', parts, finish_reason: finishReason(step.finishReason) }]));
    }
  }
  span.end();
}

/** Marks a span failed: status ERROR and `error.type` (our error code when we have one). */
export function failSpan(span: Span, error: unknown): void {
  const type = error instanceof AgentError ? error.code : error instanceof Error ? error.name : 'error';
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  span.end();
}

function json(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
}

/**
 * Runs one tool call under its span, `execute_tool {tool}`, from its start to its real end (calls
 * of a step run at once, so their results are not read in the order they end). The tool runs in
 * the span's context: spans it makes itself are its children.
 */
export async function traceToolCall(spans: TurnSpans, call: { id: string; name: string; arguments: unknown }, run: () => Promise<unknown>): Promise<unknown> {
  const span = spans.tracer.startSpan(
    `execute_tool ${call.name}`,
    {
      kind: SpanKind.INTERNAL,
      attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': call.name, 'gen_ai.tool.call.id': call.id, 'gen_ai.tool.type': 'function' },
    },
    spans.parent,
  );
  if (spans.recordContent && span.isRecording()) span.setAttribute('gen_ai.tool.call.arguments', json(call.arguments));
  let result: unknown;
  try {
    result = await context.with(trace.setSpan(spans.parent, span), run);
  } catch (error) {
    failSpan(span, error);
    throw error;
  }
  if (span.isRecording()) {
    if (spans.recordContent) span.setAttribute('gen_ai.tool.call.result', json(result));
    // A failed call answers `{error}` to the model (it can correct itself); for the trace it failed.
    if (typeof result === 'object' && result !== null && 'error' in result) {
      span.setAttribute('error.type', 'tool_error');
      span.setStatus({ code: SpanStatusCode.ERROR, message: String(result.error) });
    }
  }
  span.end();
  return result;
}
