import { z } from 'zod';
import { errorRegistry, type ErrorCode } from './error-codes.js';

export const ErrorCodeSchema = z.enum(Object.keys(errorRegistry) as [ErrorCode, ...ErrorCode[]]);

/** Token counts for one turn, summed over every model step of the tool loop. */
export const Usage = z.object({
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  total_tokens: z.number().int(),
});
export type Usage = z.output<typeof Usage>;

export const StartEvent = z
  .object({ type: z.literal('start'), session_id: z.string(), run_id: z.string() })
  .describe('First event: the session the turn belongs to, and its run (follow or resume it at /runs/{run_id}/events)');
export const TokenEvent = z.object({ type: z.literal('token'), content: z.string() }).describe('A piece of the reply text');
export const ToolCallEvent = z
  .object({ type: z.literal('tool_call'), id: z.string(), name: z.string(), arguments: z.unknown() })
  .describe('The agent calls one of its tools');
export const ToolResultEvent = z
  .object({ type: z.literal('tool_result'), id: z.string(), name: z.string(), result: z.unknown() })
  .describe("A tool's answer (a failure is `{error: string}`), matched to its call by `id`");
export const ErrorEvent = z
  .object({ type: z.literal('error'), code: ErrorCodeSchema, message: z.string() })
  .describe('The turn failed; `end` follows. `code` is a stable code from the error registry');
export const EndEvent = z
  .object({ type: z.literal('end'), session_id: z.string(), reply: z.string(), usage: Usage })
  .describe('Always the last event: the whole reply text and token usage');

/**
 * The one event union: what `/chat/stream` sends as SSE `data:` lines, what `/chat` folds into a
 * JSON reply, what every other protocol translates, and what the TypeScript client yields. Field
 * names are the wire names.
 */
export const StreamEvent = z
  .discriminatedUnion('type', [StartEvent, TokenEvent, ToolCallEvent, ToolResultEvent, ErrorEvent, EndEvent])
  .describe('One server-sent event of a turn (the JSON in its `data:` line)');
export type StreamEvent = z.output<typeof StreamEvent>;

/** The part of the union an agent produces; `start`/`end` belong to the session around it. */
export type AgentEvent = Extract<StreamEvent, { type: 'token' | 'tool_call' | 'tool_result' }> | { type: 'finish'; usage: Usage };
