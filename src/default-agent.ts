import { createAgent, type Agent } from './agent/agent.js';
import { createChatModel } from './agent/chat-model.js';
import { defaultTools } from './agent/tools/default-tools.js';
import type { Config } from './config.js';

export const MODEL_HINT =
  'No model is configured. Set LLM_BASE_URL (an OpenAI-compatible endpoint such as https://api.openai.com/v1 or http://localhost:11434/v1) ' +
  'and LLM_MODEL (plus LLM_API_KEY if the provider needs one), then restart.';

/** The agent `npm start` serves: the configured model with the built-in tools. */
export function createDefaultAgent(config: Config): Agent {
  const model =
    config.LLM_BASE_URL && config.LLM_MODEL
      ? createChatModel({ baseURL: config.LLM_BASE_URL, model: config.LLM_MODEL, apiKey: config.LLM_API_KEY })
      : undefined;
  return createAgent({
    model,
    tools: defaultTools,
    instructions: config.AGENT_INSTRUCTIONS,
    maxSteps: config.AGENT_MAX_STEPS,
    historyWindow: config.AGENT_HISTORY_MESSAGES,
    timeoutMs: config.LLM_TIMEOUT_MS,
    maxRetries: config.LLM_MAX_RETRIES,
    notConfiguredHint: MODEL_HINT,
  });
}
