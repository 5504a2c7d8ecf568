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

/**
 * Why a turn ended: `stop` (the model finished), `length` (it hit its output limit), `tool_calls`
 * (it called a tool the caller runs: the results go in the next turn), `max_steps` (the agent's
 * step limit cut the tool loop short), `content_filter`, or `error` (an `error` event came first).
 */
export const FinishReason = z.enum(['stop', 'length', 'tool_calls', 'max_steps', 'content_filter', 'error']);
export type FinishReason = z.output<typeof FinishReason>;

/** Why one model call ended: `tool_calls` when it called tools, else as the turn's reasons. */
export const StepFinishReason = FinishReason.exclude(['max_steps']);
export type StepFinishReason = z.output<typeof StepFinishReason>;

export const StartEvent = z
  .object({ type: z.literal('start'), session_id: z.string(), run_id: z.string() })
  .describe('First event: the session the turn belongs to, and its run (follow or resume it at /runs/{run_id}/events)');
export const TokenEvent = z.object({ type: z.literal('token'), content: z.string() }).describe('A piece of the reply text');
export const StepStartEvent = z
  .object({ type: z.literal('step_start'), step: z.number().int().min(1) })
  .describe('A model call begins; steps count from 1 (a turn with tools has several)');
export const StepFinishEvent = z
  .object({ type: z.literal('step_finish'), step: z.number().int().min(1), finish_reason: StepFinishReason, usage: Usage })
  .describe("The model call ended: why, and its token usage; the step's tool results follow");
export const ToolCallDeltaEvent = z
  .object({ type: z.literal('tool_call_delta'), id: z.string(), name: z.string(), arguments_delta: z.string() })
  .describe("A piece of a tool call's JSON arguments as the model writes them; the complete `tool_call` follows");
export const ToolCallEvent = z
  .object({ type: z.literal('tool_call'), id: z.string(), name: z.string(), arguments: z.unknown() })
  .describe('The agent calls one of its tools');
export const ToolResultEvent = z
  .object({ type: z.literal('tool_result'), id: z.string(), name: z.string(), result: z.unknown() })
  .describe("A tool's answer (a failure is `{error: string}`), matched to its call by `id`");
export const ErrorEvent = z
  .object({
    type: z.literal('error'),
    code: ErrorCodeSchema,
    message: z.string(),
    retry_after: z.number().int().min(0).optional().describe('Seconds to wait before retrying, when the failure says (`upstream_rate_limited`)'),
  })
  .describe('The turn failed; `end` follows. `code` is a stable code from the error registry');
export const EndEvent = z
  .object({ type: z.literal('end'), session_id: z.string(), reply: z.string(), usage: Usage, finish_reason: FinishReason })
  .describe('Always the last event: the whole reply text, token usage and why the turn ended');

/**
 * The one event union: what `/chat/stream` sends as SSE `data:` lines, what `/chat` folds into a
 * JSON reply, what every other protocol translates, and what the TypeScript client yields. Field
 * names are the wire names.
 */
export const StreamEvent = z
  .discriminatedUnion('type', [
    StartEvent,
    StepStartEvent,
    TokenEvent,
    ToolCallDeltaEvent,
    ToolCallEvent,
    ToolResultEvent,
    StepFinishEvent,
    ErrorEvent,
    EndEvent,
  ])
  .describe('One server-sent event of a turn (the JSON in its `data:` line)');
export type StreamEvent = z.output<typeof StreamEvent>;

/** The part of the union an agent produces; `start`/`end` belong to the session around it. */
export type AgentEvent =
  | Extract<StreamEvent, { type: 'step_start' | 'token' | 'tool_call_delta' | 'tool_call' | 'tool_result' | 'step_finish' }>
  | { type: 'finish'; usage: Usage; finish_reason: Exclude<FinishReason, 'error'> };
