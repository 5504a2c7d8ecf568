export { createAgent, DEFAULT_INSTRUCTIONS, type Agent, type AgentOptions, type AgentRunInput } from './agent.js';
export { AgentError, type AgentErrorCode } from './errors.js';
export type { AgentEvent, StreamEvent, Usage } from './events.js';
export type { ChatMessage, ToolCall } from './messages.js';
export { createChatModel, type ChatModelSettings } from './model.js';
export { defaultTools } from './tools/index.js';
export { Transcript } from './transcript.js';
