import { z } from 'zod';
import { ToolCallRecord } from './schemas.js';

/**
 * The Responses API's `response` object as we answer it. Output items are only `message` and
 * `function_call`: clients that validate the output (the AI SDK) reject item types they do not
 * know, so the agent's own tool steps go in `agent_tool_calls` instead.
 */
export const OutputText = z.object({
  type: z.literal('output_text'),
  text: z.string(),
  annotations: z.array(z.never()),
  logprobs: z.array(z.never()),
});
export type OutputText = z.output<typeof OutputText>;

const ItemStatus = z.enum(['in_progress', 'completed', 'incomplete']);

export const MessageOutput = z.object({
  type: z.literal('message'),
  id: z.string(),
  role: z.literal('assistant'),
  status: ItemStatus,
  content: z.array(OutputText),
});
export type MessageOutput = z.output<typeof MessageOutput>;

export const FunctionCallOutput = z.object({
  type: z.literal('function_call'),
  id: z.string(),
  call_id: z.string().describe('Answer it with a function_call_output item of this call_id (and previous_response_id)'),
  name: z.string(),
  arguments: z.string().describe('JSON'),
  status: ItemStatus,
});
export type FunctionCallOutput = z.output<typeof FunctionCallOutput>;

export const OutputItem = z.discriminatedUnion('type', [MessageOutput, FunctionCallOutput]);
export type OutputItem = z.output<typeof OutputItem>;

export const ResponseStatus = z.enum(['completed', 'failed', 'in_progress', 'cancelled', 'queued', 'incomplete']);
export type ResponseStatus = z.output<typeof ResponseStatus>;

export const ResponseUsage = z.object({
  input_tokens: z.number().int(),
  input_tokens_details: z.object({ cached_tokens: z.number().int() }),
  output_tokens: z.number().int(),
  output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
  total_tokens: z.number().int(),
});

export const ResponseObject = z
  .object({
    id: z.string().describe('The run id (run_…): GET /runs/{id} shows the same turn'),
    object: z.literal('response'),
    created_at: z.number().int(),
    status: ResponseStatus,
    background: z.boolean(),
    error: z.object({ code: z.string(), message: z.string(), type: z.string() }).nullable(),
    incomplete_details: z.object({ reason: z.enum(['max_output_tokens', 'content_filter']) }).nullable(),
    instructions: z.string().nullable(),
    max_output_tokens: z.number().int().nullable(),
    model: z.string().describe('The agent that answered'),
    output: z.array(OutputItem),
    output_text: z.string(),
    parallel_tool_calls: z.boolean(),
    previous_response_id: z.string().nullable(),
    store: z.boolean(),
    temperature: z.number().nullable(),
    top_p: z.number().nullable(),
    tool_choice: z.unknown(),
    tools: z.array(z.unknown()),
    text: z.object({ format: z.unknown() }),
    truncation: z.literal('disabled'),
    usage: ResponseUsage.nullable(),
    metadata: z.record(z.string(), z.string()),
    agent_tool_calls: z.array(ToolCallRecord).describe("The agent's own tool steps (an extension; clients that don't know it ignore it)"),
    session_id: z.string().nullable().describe('The session this response belongs to (an extension); null with store: false'),
  })
  .describe('A response (OpenAI Responses API shape)');
export type ResponseObject = z.output<typeof ResponseObject>;
