// Browser-safe: nothing here may import Node built-ins or server code (types excepted).
export { AgentClient, type AgentClientOptions, type ChatReply, type SessionDetail, type SessionSummary, type SessionPage, type StoredMessage } from './agent-client.js';
export * from './errors.js';
export { LineDecoder, SseDecoder, parseSseStream, type SseMessage } from './sse-parser.js';
export type { StreamEvent, Usage } from '../agent/events.js';
