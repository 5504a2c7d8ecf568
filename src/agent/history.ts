import type { JSONValue, ModelMessage } from 'ai';
import type { ChatMessage } from '../core/messages.js';

/**
 * Keeps at most `limit` messages and starts the window at a user message, so the model never
 * sees a tool result whose call was cut off (providers reject that).
 */
export function trimHistory(history: ChatMessage[], limit: number): ChatMessage[] {
  if (limit <= 0) return [];
  let start = Math.max(0, history.length - limit);
  while (start < history.length && history[start]!.role !== 'user') start++;
  return history.slice(start);
}

export function toModelMessages(history: ChatMessage[]): ModelMessage[] {
  // A call with no stored result (the turn was interrupted) must not reach the model: providers
  // require every tool call to be answered.
  const answered = new Set(history.flatMap((m) => (m.role === 'tool' ? [m.tool_call_id] : [])));
  const out: ModelMessage[] = [];
  for (const m of history) {
    if (m.role === 'user') out.push({ role: 'user', content: m.content });
    else if (m.role === 'tool') {
      out.push({
        role: 'tool',
        content: [{ type: 'tool-result', toolCallId: m.tool_call_id, toolName: m.name, output: { type: 'json', value: (m.result ?? null) as JSONValue } }],
      });
    } else {
      const calls = (m.tool_calls ?? []).filter((c) => answered.has(c.id));
      if (!m.content && calls.length === 0) continue;
      out.push({
        role: 'assistant',
        content: [
          ...(m.content ? [{ type: 'text' as const, text: m.content }] : []),
          ...calls.map((c) => ({ type: 'tool-call' as const, toolCallId: c.id, toolName: c.name, input: c.arguments })),
        ],
      });
    }
  }
  return out;
}
