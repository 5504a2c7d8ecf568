import type { JSONValue, LanguageModelV3FilePart, LanguageModelV3Message, LanguageModelV3TextPart } from '@ai-sdk/provider';
import type { ChatMessage } from '../core/messages.js';
import type { Attachment } from '../core/turn-options.js';

/** A user message's text and attachments as the provider layer's parts. */
export function userContent(text: string, attachments: readonly Attachment[] | undefined): Array<LanguageModelV3TextPart | LanguageModelV3FilePart> {
  const parts: Array<LanguageModelV3TextPart | LanguageModelV3FilePart> = text === '' && attachments?.length ? [] : [{ type: 'text', text }];
  for (const a of attachments ?? []) {
    const data = /^https?:\/\//i.test(a.data) ? new URL(a.data) : a.data;
    parts.push({ type: 'file', mediaType: a.mediaType, data, ...(a.filename ? { filename: a.filename } : {}) });
  }
  return parts;
}

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

/** A tool's result as the model reads it. */
export function toolOutput(result: unknown): { type: 'json'; value: JSONValue } | { type: 'text'; value: string } {
  // Text as it is: a client's tool message (a string) must reach the model as written, not JSON-quoted.
  if (typeof result === 'string') return { type: 'text', value: result };
  return { type: 'json', value: (result ?? null) as JSONValue };
}

/** Our stored conversation in the provider layer's prompt format. */
export function toModelMessages(history: ChatMessage[]): LanguageModelV3Message[] {
  // A call with no stored result (the turn was interrupted) must not reach the model: providers
  // require every tool call to be answered.
  const answered = new Set(history.flatMap((m) => (m.role === 'tool' ? [m.tool_call_id] : [])));
  const out: LanguageModelV3Message[] = [];
  for (const m of history) {
    // A regenerated answer is kept for the record, never shown to the model again.
    if (m.role !== 'user' && m.superseded) continue;
    if (m.role === 'user') out.push({ role: 'user', content: userContent(m.content, m.attachments) });
    else if (m.role === 'tool') {
      const part = { type: 'tool-result' as const, toolCallId: m.tool_call_id, toolName: m.name, output: toolOutput(m.result) };
      // Results of one step's calls go back as one message, as providers expect.
      const last = out.at(-1);
      if (last?.role === 'tool') last.content.push(part);
      else out.push({ role: 'tool', content: [part] });
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
