import { z } from 'zod';

export const SessionId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -')
  .describe('Session id; omit it to start a new session');

export const ChatRequest = z.object({
  message: z
    .string()
    .min(1)
    .max(5000)
    .refine((s) => s.trim().length > 0, 'must not be blank')
    .describe('The user message (1 to 5000 characters)'),
  // The seed accepts `null` for a missing id, so we do too.
  session_id: SessionId.nullish(),
});

const ToolCallRecord = z.object({
  id: z.string(),
  name: z.string(),
  arguments: z.unknown(),
  result: z.unknown(),
});

export const UsageSchema = z.object({
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  total_tokens: z.number().int(),
});

export const ChatResponse = z.object({
  reply: z.string(),
  session_id: z.string(),
  tool_calls: z.array(ToolCallRecord),
  usage: UsageSchema,
});

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().describe('Stable machine-readable code'),
      message: z.string(),
      request_id: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .describe('Error');

export const SessionInfoSchema = z.object({
  id: z.string(),
  title: z.string().nullable(),
  message_count: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const SessionList = z.object({
  sessions: z.array(SessionInfoSchema),
  next_before: z.string().nullable().describe('Pass as `before` to get the next page; null on the last page'),
});

export const StoredMessageSchema = z.object({
  seq: z.number().int(),
  created_at: z.string(),
  role: z.enum(['user', 'assistant', 'tool']),
  content: z.string().optional(),
  tool_calls: z.array(z.object({ id: z.string(), name: z.string(), arguments: z.unknown() })).optional(),
  tool_call_id: z.string().optional(),
  name: z.string().optional(),
  result: z.unknown().optional(),
  interrupted: z.boolean().optional(),
});

export const SessionDetail = SessionInfoSchema.extend({
  messages: z.array(StoredMessageSchema),
  next_after: z.number().int().nullable().describe('Pass as `after` to get the next page; null on the last page'),
});

export const ListSessionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.string().max(200).optional().describe('Cursor from next_before'),
});

export const GetSessionQuery = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  after: z.coerce.number().int().min(-1).optional().describe('seq cursor from next_after'),
});

export const SessionParams = z.object({ id: SessionId });

export const HealthResponse = z.object({ status: z.literal('healthy'), version: z.string() });
export const ReadyResponse = z.object({ status: z.literal('ready') });

/** Error responses every authenticated route can give. */
export const authErrors = { 401: ErrorResponse, 429: ErrorResponse, 500: ErrorResponse } as const;
