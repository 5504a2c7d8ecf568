import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Agent } from './agent/agent.js';
import { AgentSet } from './agent/agent-set.js';
import { defaultTools } from './agent/tools/default-tools.js';
import { ConfigError, type Config } from './config.js';
import { createDefaultAgent } from './default-agent.js';
import { AGENT_NAME_PATTERN } from './http/schemas.js';

const TOOL_NAMES = Object.keys(defaultTools) as Array<keyof typeof defaultTools>;
const isToolName = (name: string): name is keyof typeof defaultTools => (TOOL_NAMES as string[]).includes(name);

// Strict objects: a misspelt key (`max_step`) is named instead of silently ignored.
const AgentDefinition = z.strictObject({
  instructions: z.string().trim().min(1).optional(),
  tools: z
    .array(
      z.string().refine(isToolName, {
        error: (issue) => `unknown tool '${String(issue.input)}' (built-in tools: ${TOOL_NAMES.join(', ')})`,
      }),
    )
    .optional(),
  model: z.string().trim().min(1).optional(),
  max_steps: z.number().int().min(1).max(100).optional(),
  accepts: z.array(z.enum(['image', 'file'])).optional(),
});

const AgentsFile = z
  .strictObject({
    default: z.string().optional(),
    agents: z
      .record(z.string().regex(AGENT_NAME_PATTERN, 'an agent name is 1 to 64 letters, digits and . _ -'), AgentDefinition)
      .refine((agents) => Object.keys(agents).length > 0, 'names no agent'),
  })
  .superRefine((file, ctx) => {
    if (file.default !== undefined && !Object.hasOwn(file.agents, file.default)) {
      ctx.addIssue({ code: 'custom', path: ['default'], message: `'${file.default}' is not one of the agents (${Object.keys(file.agents).join(', ')})` });
    }
  });

export type AgentsFile = z.output<typeof AgentsFile>;

/** Reads and checks AGENTS_FILE; a ConfigError names the file and the field at fault. */
export function readAgentsFile(path: string): AgentsFile {
  const fail = (why: string) => new ConfigError(`AGENTS_FILE ${path}: ${why}`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    // Node's message ends with the path again ("ENOENT: no such file or directory, open 'x'").
    throw fail(`cannot be read (${(err as Error).message.split(',')[0]})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw fail(`is not valid JSON (${(err as Error).message})`);
  }
  const parsed = AgentsFile.safeParse(json);
  if (!parsed.success) {
    // A bad agent name is an `invalid_key` issue whose own message is the key schema's, one level down.
    const message = (i: z.core.$ZodIssue) => (i.code === 'invalid_key' ? (i.issues[0]?.message ?? i.message) : i.message);
    const lines = parsed.error.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${message(i)}`);
    throw fail(lines.length === 1 ? lines[0]! : `\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}

/**
 * The agents with the default one first, so /v1/models lists it first: a client that shows a list
 * (the playground) preselects the first.
 */
export function defaultFirst<T>(agents: Readonly<Record<string, T>>, defaultName: string | undefined): Map<string, T> {
  const entries = Object.entries(agents);
  const at = entries.findIndex(([name]) => name === defaultName);
  return new Map(at > 0 ? [entries[at]!, ...entries.slice(0, at), ...entries.slice(at + 1)] : entries);
}

/** The agents of an AGENTS_FILE: each on the configured provider, with its own model, instructions and tools. */
export function createFileAgents(config: Config, file: AgentsFile): AgentSet {
  const agents = new Map<string, Agent>();
  for (const [name, def] of defaultFirst(file.agents, file.default)) {
    const tools = def.tools && Object.fromEntries(def.tools.filter(isToolName).map((t) => [t, defaultTools[t]]));
    agents.set(
      name,
      createDefaultAgent(config, { name, model: def.model, instructions: def.instructions, tools, maxSteps: def.max_steps, accepts: def.accepts }),
    );
  }
  return new AgentSet(agents, file.default);
}
