import type { JSONSchema7, LanguageModelV3FunctionTool, LanguageModelV3ProviderTool } from '@ai-sdk/provider';
import { asSchema, type ToolSet } from 'ai';

/** A tool the caller runs: the model may call it, and the run ends with the call pending. */
export interface ClientTool {
  name: string;
  description?: string | undefined;
  /** JSON Schema of the arguments (an object schema). */
  parameters: JSONSchema7;
  /** Asks the provider to hold the model's arguments to `parameters` exactly. */
  strict?: boolean | undefined;
}

export type ToolDefinition = LanguageModelV3FunctionTool | LanguageModelV3ProviderTool;

/** One of the agent's own tools, ready for every run: its definition computed once. */
export interface PreparedTool {
  name: string;
  tool: ToolSet[string];
  validate: ((value: unknown) => Promise<{ success: true; value: unknown } | { success: false; error: Error }>) | undefined;
  definition: () => Promise<ToolDefinition>;
}

/**
 * Wraps the agent's tools once. Turning a zod schema into JSON Schema is a large share of a turn's
 * CPU when done per model call, so each definition is built on first use and kept.
 */
export function prepareTools(tools: ToolSet): Map<string, PreparedTool> {
  const out = new Map<string, PreparedTool>();
  for (const [name, tool] of Object.entries(tools)) {
    if (tool.type === 'provider') {
      const definition: ToolDefinition = { type: 'provider', id: tool.id, name, args: tool.args };
      out.set(name, { name, tool, validate: undefined, definition: () => Promise.resolve(definition) });
      continue;
    }
    const schema = asSchema(tool.inputSchema);
    let cached: Promise<ToolDefinition> | undefined;
    const validate = schema.validate?.bind(schema);
    out.set(name, {
      name,
      tool,
      validate: validate && (async (value: unknown) => validate(value)),
      definition: () =>
        (cached ??= Promise.resolve(schema.jsonSchema).then((inputSchema) => ({
          type: 'function' as const,
          name,
          inputSchema,
          ...(tool.description ? { description: tool.description } : {}),
          ...(tool.strict === undefined ? {} : { strict: tool.strict }),
          ...(tool.providerOptions ? { providerOptions: tool.providerOptions } : {}),
        }))),
    });
  }
  return out;
}

export function clientToolDefinition(t: ClientTool): ToolDefinition {
  return {
    type: 'function',
    name: t.name,
    inputSchema: t.parameters,
    ...(t.description ? { description: t.description } : {}),
    ...(t.strict === undefined ? {} : { strict: t.strict }),
  };
}
