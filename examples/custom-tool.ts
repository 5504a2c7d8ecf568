/**
 * Serve your own agent: your instructions, your model, your tools.
 *
 *   LLM_BASE_URL=http://localhost:11434/v1 LLM_MODEL=qwen2.5 VALID_API_KEYS=dev-key \
 *     node --import tsx examples/custom-tool.ts
 *   LLM_PROVIDER=anthropic LLM_MODEL=claude-sonnet-4-5 LLM_API_KEY=sk-ant-… VALID_API_KEYS=dev-key \
 *     node --import tsx examples/custom-tool.ts
 *
 * Outside this repo, import from 'agent-api' instead of '../src/index.js'.
 */
import { tool } from 'ai';
import { z } from 'zod';
import { createAgent, createAgentServer, createChatModel, defaultTools, loadConfig } from '../src/index.js';

// A tool is a zod schema for its input plus a function. Whatever it returns goes back to the
// model and to the client (`tool_calls` on /chat, `tool_result` events on /chat/stream).
const weather = tool({
  description: 'Current weather for a city',
  inputSchema: z.object({ city: z.string().describe('City name, e.g. "Hangzhou"') }),
  execute: async ({ city }) => {
    // Call your real weather service here.
    return { city, condition: 'sunny', temperature_c: 23 };
  },
});

const config = loadConfig();
const agent = createAgent({
  name: 'weather-agent',
  // LLM_PROVIDER picks the API (openai-compatible, the default, needs LLM_BASE_URL; the others default to their public endpoint).
  model:
    config.LLM_MODEL && (config.LLM_BASE_URL || config.LLM_PROVIDER !== 'openai-compatible')
      ? createChatModel({ provider: config.LLM_PROVIDER, baseURL: config.LLM_BASE_URL, model: config.LLM_MODEL, apiKey: config.LLM_API_KEY })
      : undefined,
  instructions: 'You are a travel assistant. Use the weather tool for weather questions.',
  tools: { ...defaultTools, weather },
  maxSteps: config.AGENT_MAX_STEPS,
});

const server = await createAgentServer({ agent, config });
process.once('SIGINT', () => void server.close().then(() => process.exit(0)));
console.log(`weather agent listening at ${await server.listen()}`);
