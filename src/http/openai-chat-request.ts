/**
 * The body of `POST /v1/chat/completions` as OpenAI defines it: the conversation (text, image and
 * file parts, assistant tool calls, tool results), client tools and tool choice, the response
 * format and the sampling parameters. Ranges are OpenAI's, so a bad value is a 400 naming it.
 */
import { z } from 'zod';
import { SessionId } from './schemas.js';

const TextPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const ImagePart = z.looseObject({
  type: z.literal('image_url'),
  image_url: z.looseObject({ url: z.string().min(1).describe('A data URL (base64) or an http(s) URL'), detail: z.string().nullish() }),
});
const FilePart = z.looseObject({
  type: z.literal('file'),
  file: z.looseObject({
    file_data: z.string().nullish().describe('The file as a data URL (base64)'),
    file_id: z.string().nullish().describe('Not supported: there is no Files API here'),
    filename: z.string().nullish(),
  }),
});
const AudioPart = z.looseObject({ type: z.literal('input_audio'), input_audio: z.unknown() }).describe('Not supported');
const RefusalPart = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });

export const UserPart = z.discriminatedUnion('type', [TextPart, ImagePart, FilePart, AudioPart]);
export type UserPart = z.output<typeof UserPart>;

/**
 * A string or an array of parts. A bad part is named in the message (a bare union would only say
 * "Invalid input" about the whole content).
 */
function stringOrParts<T extends z.ZodType>(part: T) {
  return z.union([z.string(), z.array(part)], {
    error: (iss) => {
      if (iss.code !== 'invalid_union' || !Array.isArray(iss.input)) return 'must be a string or an array of content parts';
      const inner = iss.errors[1]?.[0];
      return inner ? `${inner.path.join('.')}: ${inner.message}` : undefined;
    },
  });
}

const TextContent = stringOrParts(TextPart);

export const AssistantToolCall = z.looseObject({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.looseObject({ name: z.string().min(1), arguments: z.string().describe('JSON, as the model wrote it') }),
});

const SystemMessage = z.looseObject({ role: z.enum(['system', 'developer']), content: TextContent.nullish() });
const UserMessage = z.looseObject({ role: z.literal('user'), content: stringOrParts(UserPart) });
const AssistantMessage = z.looseObject({
  role: z.literal('assistant'),
  content: stringOrParts(z.discriminatedUnion('type', [TextPart, RefusalPart])).nullish(),
  tool_calls: z.array(AssistantToolCall).nullish(),
});
const ToolMessage = z.looseObject({ role: z.literal('tool'), tool_call_id: z.string().min(1), content: TextContent });
const FunctionMessage = z.looseObject({ role: z.literal('function'), content: z.string().nullish() }).describe('Deprecated by OpenAI; ignored');

export const ChatMessageIn = z.discriminatedUnion('role', [SystemMessage, UserMessage, AssistantMessage, ToolMessage, FunctionMessage]);
export type ChatMessageIn = z.output<typeof ChatMessageIn>;

const ToolName = z
  .string()
  .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1 to 64 of a-z, A-Z, 0-9, _ and -')
  .describe('The function name');

export const FunctionTool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: ToolName,
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish().describe('JSON Schema of the arguments (an object); none means no arguments'),
    strict: z.boolean().nullish(),
  }),
});

export const ToolChoiceIn = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
]);

export const ResponseFormatIn = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: z.string().min(1).max(64),
      description: z.string().nullish(),
      schema: z.record(z.string(), z.unknown()).nullish(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const Penalty = z.number().min(-2).max(2).nullish();

export const ChatCompletionRequest = z
  .object({
    model: z.string().describe('The agent that answers: one of GET /v1/models (an unknown one is a 404 model_not_found)'),
    messages: z
      .array(ChatMessageIn)
      .min(1)
      .describe("The conversation; it ends with the new user message, or with `tool` messages answering the assistant's `tool_calls`"),
    tools: z.array(FunctionTool).nullish().describe("Client tools: offered to the model beside the agent's own; a call comes back as `tool_calls`"),
    tool_choice: ToolChoiceIn.nullish(),
    response_format: ResponseFormatIn.nullish(),
    temperature: z.number().min(0).max(2).nullish(),
    top_p: z.number().min(0).max(1).nullish(),
    max_tokens: z.number().int().min(1).nullish(),
    max_completion_tokens: z.number().int().min(1).nullish().describe('Wins over `max_tokens`'),
    stop: z
      .union([z.string(), z.array(z.string()).max(4)])
      .nullish()
      .describe('Up to 4 sequences'),
    seed: z.number().int().nullish(),
    presence_penalty: Penalty,
    frequency_penalty: Penalty,
    n: z.number().int().min(1).nullish().describe('Only 1: one choice per request'),
    stream: z.boolean().nullish(),
    stream_options: z.looseObject({ include_usage: z.boolean().nullish() }).nullish(),
    session_id: SessionId.nullish().describe('Continue a stored session (also the X-Session-Id header); the earlier messages are then ignored'),
  })
  .superRefine((body, ctx) => {
    const i = body.messages.length - 1;
    const last = body.messages[i];
    if (last && last.role !== 'user' && last.role !== 'tool') {
      ctx.addIssue({
        code: 'custom',
        path: ['messages', i, 'role'],
        message: "The last message must have role 'user' (or 'tool', answering the assistant's tool_calls)",
      });
    }
    if (body.n != null && body.n > 1) ctx.addIssue({ code: 'custom', path: ['n'], message: 'Only n = 1 is supported: the agent gives one answer per request' });
    const names = new Set<string>();
    for (const [j, t] of (body.tools ?? []).entries()) {
      if (names.has(t.function.name))
        ctx.addIssue({ code: 'custom', path: ['tools', j, 'function', 'name'], message: `Another tool is named '${t.function.name}'` });
      names.add(t.function.name);
    }
    const choice = body.tool_choice;
    if (typeof choice === 'object' && choice !== null && !names.has(choice.function.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tool_choice'],
        message: `Names the function '${choice.function.name}', which is not one of the request's tools`,
      });
    }
  });
export type ChatCompletionRequest = z.output<typeof ChatCompletionRequest>;
