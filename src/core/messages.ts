import { z } from 'zod';

/**
 * The conversation as we persist and return it. It mirrors the OpenAI Chat Completions message
 * shape because that is what most users already read fluently. Each schema and the type inferred
 * from it share one name.
 */
export const ToolCall = z.object({
  id: z.string(),
  name: z.string(),
  arguments: z.unknown(),
});
export type ToolCall = z.output<typeof ToolCall>;

export const UserMessage = z.object({ role: z.literal('user'), content: z.string() });
export const AssistantMessage = z.object({
  role: z.literal('assistant'),
  content: z.string(),
  tool_calls: z.array(ToolCall).optional(),
  /** The reply was cut short (error, hang-up or shutdown); what was said so far is kept. */
  interrupted: z.boolean().optional(),
});
export const ToolMessage = z.object({ role: z.literal('tool'), tool_call_id: z.string(), name: z.string(), result: z.unknown() });

export const ChatMessage = z.discriminatedUnion('role', [UserMessage, AssistantMessage, ToolMessage]);
export type ChatMessage = z.output<typeof ChatMessage>;
