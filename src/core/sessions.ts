import { z } from 'zod';

/** A session as listed: what the store keeps about it beside its messages. */
export const SessionSummary = z.object({
  id: z.string(),
  title: z.string().nullable().describe('The start of the first message'),
  message_count: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
  active_run_id: z.string().nullable().describe('The run answering in this session now, or null'),
  agent: z.string().nullable().describe('The agent the session belongs to (see GET /v1/models); null: the default agent'),
});
export type SessionSummary = z.output<typeof SessionSummary>;
