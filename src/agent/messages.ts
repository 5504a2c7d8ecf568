/**
 * The conversation as we persist and return it. It mirrors the OpenAI Chat Completions
 * message shape because that is what most users already read fluently.
 */
export interface ToolCall {
  id: string;
  name: string;
  arguments: unknown;
}

export type ChatMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; tool_calls?: ToolCall[]; interrupted?: boolean }
  | { role: 'tool'; tool_call_id: string; name: string; result: unknown };
