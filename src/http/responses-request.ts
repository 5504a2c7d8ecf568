import { z } from 'zod';

/**
 * The body of `POST /v1/responses` as the OpenAI Responses API defines it, the parts we serve.
 * Objects are loose: parameters we do not use (metadata, reasoning, include, user…) are accepted
 * and ignored, as the official clients send some of them by default.
 */
const InputText = z.looseObject({ type: z.literal('input_text'), text: z.string() });
const OutputText = z.looseObject({ type: z.literal('output_text'), text: z.string() });
const Refusal = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });
const InputImage = z.looseObject({
  type: z.literal('input_image'),
  image_url: z.string().nullish().describe('An http(s) URL or a data: URL (base64)'),
  file_id: z.string().nullish().describe('Not supported (no Files API here)'),
  detail: z.string().nullish(),
});
const InputFile = z.looseObject({
  type: z.literal('input_file'),
  file_data: z.string().nullish().describe('A data: URL, or the content base64-encoded'),
  file_url: z.string().nullish(),
  filename: z.string().nullish(),
  file_id: z.string().nullish().describe('Not supported (no Files API here)'),
});
export const InputPart = z.discriminatedUnion('type', [InputText, OutputText, Refusal, InputImage, InputFile]);
export type InputPart = z.output<typeof InputPart>;

const MessageItem = z.looseObject({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(InputPart)]),
});
const FunctionCallItem = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
const FunctionCallOutputItem = z.looseObject({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(InputPart)]),
});
export const InputItem = z.discriminatedUnion('type', [MessageItem, FunctionCallItem, FunctionCallOutputItem]);
export type InputItem = z.output<typeof InputItem>;

const FunctionTool = z.looseObject({
  type: z.literal('function'),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a function name: 1-64 of A-Za-z0-9_-'),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

const ToolChoice = z.union([z.enum(['auto', 'none', 'required']), z.looseObject({ type: z.literal('function'), name: z.string().min(1) })]);

const TextFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    name: z.string().nullish(),
    description: z.string().nullish(),
    schema: z.record(z.string(), z.unknown()),
    strict: z.boolean().nullish(),
  }),
]);

export const ResponsesRequest = z.looseObject({
  model: z.string().min(1).describe('The agent to answer (GET /v1/models lists them)'),
  input: z
    // Items are checked one by one (responses-input.ts): a union's error would name only `input`.
    .union([z.string(), z.array(z.looseObject({})).min(1)])
    .describe(
      'A user message, or a list of items: messages ({role: user|assistant|system|developer, content: string or parts input_text, ' +
        'output_text, input_image, input_file}), {type: function_call, call_id, name, arguments} and {type: function_call_output, call_id, output}',
    ),
  instructions: z.string().nullish().describe('Accepted and ignored: the agent has its own instructions'),
  previous_response_id: z.string().min(1).max(128).nullish().describe('Continue the conversation of that response (its session)'),
  store: z.boolean().nullish().describe('false: nothing is stored but the run; the history comes from `input` only'),
  stream: z.boolean().nullish(),
  background: z.boolean().nullish().describe('Answer at once (status in_progress); poll GET /v1/responses/{id} or stream it'),
  tools: z
    .array(z.discriminatedUnion('type', [FunctionTool]))
    .nullish()
    .describe('Function tools the client runs (only `function`)'),
  tool_choice: ToolChoice.nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  max_output_tokens: z.number().int().min(1).nullish(),
  text: z.looseObject({ format: TextFormat.nullish() }).nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
});
export type ResponsesRequest = z.output<typeof ResponsesRequest>;
