import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { LanguageModelV3 } from '@ai-sdk/provider';

export interface ChatModelSettings {
  baseURL: string;
  model: string;
  apiKey?: string | undefined;
}

/**
 * A model behind any OpenAI Chat Completions endpoint: OpenAI, DeepSeek, Qwen, Ollama, vLLM,
 * llama.cpp. The compatible provider is used because `@ai-sdk/openai` defaults to the Responses API.
 */
export function createChatModel({ baseURL, model, apiKey }: ChatModelSettings): LanguageModelV3 {
  return createOpenAICompatible({
    name: 'llm',
    baseURL,
    ...(apiKey ? { apiKey } : {}),
    includeUsage: true,
  }).chatModel(model);
}
