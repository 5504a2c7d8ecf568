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

/** An image or file sent with a user message (see core/turn-options.ts's Attachment). */
export const AttachmentRecord = z.object({
  kind: z.enum(['image', 'file']),
  mediaType: z.string(),
  data: z.string().describe('An http(s) URL, or the content base64-encoded'),
  filename: z.string().optional(),
});

export const UserMessage = z.object({ role: z.literal('user'), content: z.string(), attachments: z.array(AttachmentRecord).optional() });
export const AssistantMessage = z.object({
  role: z.literal('assistant'),
  content: z.string(),
  tool_calls: z.array(ToolCall).optional(),
  /** The reply was cut short (error, hang-up or shutdown); what was said so far is kept. */
  interrupted: z.boolean().optional(),
  /** Replaced by a regenerated answer: kept for the record, not sent to the model again. */
  superseded: z.boolean().optional(),
});
export const ToolMessage = z.object({
  role: z.literal('tool'),
  tool_call_id: z.string(),
  name: z.string(),
  result: z.unknown(),
  superseded: z.boolean().optional(),
});

export const ChatMessage = z.discriminatedUnion('role', [UserMessage, AssistantMessage, ToolMessage]);
export type ChatMessage = z.output<typeof ChatMessage>;
