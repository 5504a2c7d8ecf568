import type { ToolSet } from 'ai';
import { createAgent, type Agent } from './agent/agent.js';
import { createChatModel, DEFAULT_BASE_URLS } from './agent/chat-model.js';
import { defaultTools } from './agent/tools/default-tools.js';
import type { Config } from './config.js';
import type { AttachmentKind } from './core/turn-options.js';

const EXAMPLE_MODELS = { openai: 'gpt-4o-mini', anthropic: 'claude-sonnet-4-5', google: 'gemini-2.5-flash' } as const;

/**
 * Why the configured model cannot be built, naming what to set; undefined when it can.
 * `openai-compatible` needs LLM_BASE_URL; the others have a public endpoint but always need a key
 * (their packages would otherwise read OPENAI_API_KEY and the like, a second source of settings).
 */
export function modelNotConfiguredHint(config: Config): string | undefined {
  const provider = config.LLM_PROVIDER;
  if (provider === 'openai-compatible') {
    const missing = [config.LLM_BASE_URL ? [] : ['LLM_BASE_URL'], config.LLM_MODEL ? [] : ['LLM_MODEL']].flat();
    if (missing.length === 0) return undefined;
    return (
      `No model is configured: set ${missing.join(' and ')}, then restart. ` +
      'LLM_BASE_URL is an OpenAI-compatible endpoint such as https://api.openai.com/v1 or http://localhost:11434/v1, ' +
      'LLM_MODEL the model name (plus LLM_API_KEY if the provider needs one). ' +
      'For the OpenAI Responses API, Anthropic or Google Gemini, set LLM_PROVIDER to openai, anthropic or google instead.'
    );
  }
  const missing = [config.LLM_MODEL ? [] : [`LLM_MODEL (e.g. ${EXAMPLE_MODELS[provider]})`], config.LLM_API_KEY ? [] : ['LLM_API_KEY']].flat();
  if (missing.length === 0) return undefined;
  return (
    `No model is configured for LLM_PROVIDER=${provider}: set ${missing.join(' and ')}, then restart. ` +
    `LLM_BASE_URL is optional (default ${DEFAULT_BASE_URLS[provider]}).`
  );
}

/** What one agent of AGENTS_FILE sets; the rest comes from the environment. */
export interface AgentOverrides {
  name?: string;
  /** The model name at the configured provider (default LLM_MODEL). */
  model?: string | undefined;
  instructions?: string | undefined;
  tools?: ToolSet | undefined;
  maxSteps?: number | undefined;
  accepts?: readonly AttachmentKind[] | undefined;
}

/** The agent `npm start` serves: the configured model with the built-in tools (or what `overrides` sets). */
export function createDefaultAgent(config: Config, overrides: AgentOverrides = {}): Agent {
  const settings = overrides.model === undefined ? config : { ...config, LLM_MODEL: overrides.model };
  const hint = modelNotConfiguredHint(settings);
  const model =
    hint === undefined && settings.LLM_MODEL
      ? createChatModel({ provider: config.LLM_PROVIDER, baseURL: config.LLM_BASE_URL, model: settings.LLM_MODEL, apiKey: config.LLM_API_KEY })
      : undefined;
  return createAgent({
    ...(overrides.name === undefined ? {} : { name: overrides.name }),
    model,
    tools: overrides.tools ?? defaultTools,
    instructions: overrides.instructions ?? config.AGENT_INSTRUCTIONS,
    maxSteps: overrides.maxSteps ?? config.AGENT_MAX_STEPS,
    historyWindow: config.AGENT_HISTORY_MESSAGES,
    timeoutMs: config.LLM_TIMEOUT_MS,
    maxRetries: config.LLM_MAX_RETRIES,
    ...(overrides.accepts === undefined ? {} : { accepts: overrides.accepts }),
    ...(hint === undefined ? {} : { notConfiguredHint: hint }),
  });
}
