import { createAnthropic } from '@ai-sdk/anthropic';
import { createGoogleGenerativeAI } from '@ai-sdk/google';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { nodeFetch } from './node-fetch.js';

/** Which API the model speaks, each through the AI SDK's own provider package. */
export const CHAT_MODEL_PROVIDERS = ['openai-compatible', 'openai', 'anthropic', 'google'] as const;
export type ChatModelProvider = (typeof CHAT_MODEL_PROVIDERS)[number];

/**
 * The public endpoint of each provider with one, used when no baseURL is given. Passed explicitly
 * so that the packages' own variables (OPENAI_BASE_URL, ANTHROPIC_BASE_URL) never redirect a model
 * behind the caller's back.
 */
export const DEFAULT_BASE_URLS: Readonly<Record<Exclude<ChatModelProvider, 'openai-compatible'>, string>> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com/v1',
  google: 'https://generativelanguage.googleapis.com/v1beta',
};

export interface ChatModelSettings {
  /** Default `openai-compatible`. */
  provider?: ChatModelProvider | undefined;
  /** With its version path (`…/v1`, Google's `…/v1beta`). Required for `openai-compatible`; the others default to `DEFAULT_BASE_URLS`. */
  baseURL?: string | undefined;
  model: string;
  /**
   * Unset: `openai-compatible` sends none (Ollama and the like need none); the other packages fall
   * back to their own variable (OPENAI_API_KEY, ANTHROPIC_API_KEY, GOOGLE_GENERATIVE_AI_API_KEY)
   * and fail every request without one.
   */
  apiKey?: string | undefined;
}

/**
 * A chat model from one of the AI SDK's provider packages:
 * - `openai-compatible`: any OpenAI Chat Completions endpoint (OpenAI, DeepSeek, Qwen, Ollama, vLLM, llama.cpp);
 * - `openai`: OpenAI's Responses API (`POST {baseURL}/responses`), what `@ai-sdk/openai` uses by default;
 * - `anthropic`: Anthropic's Messages API (`POST {baseURL}/messages`);
 * - `google`: the Gemini API (`POST {baseURL}/models/{model}:streamGenerateContent`).
 */
export function createChatModel({ provider = 'openai-compatible', baseURL, model, apiKey }: ChatModelSettings): LanguageModelV3 {
  const options = { ...(apiKey ? { apiKey } : {}), fetch: nodeFetch };
  switch (provider) {
    case 'openai-compatible':
      if (!baseURL) throw new TypeError('createChatModel: the openai-compatible provider needs a baseURL (an OpenAI Chat Completions endpoint)');
      return createOpenAICompatible({ name: 'llm', baseURL, ...options, includeUsage: true, supportsStructuredOutputs: true }).chatModel(model);
    case 'openai':
      return createOpenAI({ baseURL: baseURL ?? DEFAULT_BASE_URLS.openai, ...options }).responses(model);
    case 'anthropic':
      return createAnthropic({ baseURL: baseURL ?? DEFAULT_BASE_URLS.anthropic, ...options }).messages(model);
    case 'google':
      return createGoogleGenerativeAI({ baseURL: baseURL ?? DEFAULT_BASE_URLS.google, ...options }).languageModel(model);
    default:
      // Reachable from JavaScript callers only.
      throw new TypeError(`createChatModel: unknown provider ${JSON.stringify(provider satisfies never)}; use one of ${CHAT_MODEL_PROVIDERS.join(', ')}`);
  }
}
