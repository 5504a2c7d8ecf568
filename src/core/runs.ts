import { z } from 'zod';
import { ErrorCodeSchema, FinishReason, Usage } from './events.js';

/** Where a run is in its life; the last four are final. */
export const RunStatus = z.enum(['queued', 'running', 'completed', 'failed', 'cancelled', 'interrupted']);
export type RunStatus = z.output<typeof RunStatus>;

export const FINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled', 'interrupted'];

export const RunToolCall = z.object({ id: z.string(), name: z.string(), arguments: z.unknown(), result: z.unknown() });

/** A run as clients see it: one turn of a session, on any route, kept by the database. */
export const Run = z.object({
  id: z.string().describe('run_…'),
  session_id: z.string().nullable().describe('null for a turn that stored nothing (OpenAI-style requests without a session)'),
  status: RunStatus,
  error: z.object({ code: ErrorCodeSchema, message: z.string() }).nullable(),
  reply: z.string().describe('The reply text so far; all of it once the run has ended'),
  tool_calls: z.array(RunToolCall),
  usage: Usage.nullable(),
  finish_reason: FinishReason.nullable().describe('Why the run ended (as the `end` event says); null while it runs'),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});
export type Run = z.output<typeof Run>;
