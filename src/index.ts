/**
 * The library's public API: what a program that serves its own agent needs, and nothing else.
 * Everything not exported here is internal and may change without notice.
 */

// Serving an agent over HTTP
export { createAgentServer, type AgentServer, type AgentServerOptions } from './server.js';
export { loadConfig, ConfigError, type Config } from './config.js';

// Building an agent: a model, instructions, tools
export { createAgent, DEFAULT_INSTRUCTIONS, type Agent, type AgentOptions, type AgentRunInput } from './agent/agent.js';
export { AgentError, type AgentErrorCode } from './agent/agent-error.js';
export { createChatModel, type ChatModelProvider, type ChatModelSettings } from './agent/chat-model.js';
export { defaultTools } from './agent/tools/default-tools.js';
export { tool, type Tool, type ToolSet } from 'ai';

// What an agent yields and what sessions hold
export type { AgentEvent, StreamEvent, Usage } from './core/events.js';
export type { ChatMessage, ToolCall } from './core/messages.js';
export type { SessionSummary } from './core/sessions.js';
export { errorRegistry, type ErrorCode } from './core/error-codes.js';

export type { Run, RunStatus } from './core/runs.js';

// Keeping sessions and runs elsewhere: implement Storage = Store & RunStore (the contract is test/store.test.ts)
export { openStore, type OpenStoreOptions } from './store/open-store.js';
export type { MessageRecord, Store } from './store/store.js';
export type { LoggedEvent, NewRun, RunOutcome, RunRecord, RunSignals, RunStore } from './store/run-store.js';
export type { Storage } from './store/storage.js';
