// Browser-safe: nothing here may import Node built-ins, or server code other than types and the
// plain-data error registry (test/import-rules.test.ts checks it).
export { AgentClient, type AgentClientOptions, type UsageOptions } from './agent-client.js';
export type { Keys, KeyLimits } from './keys.js';
export type { ChatOptions, StreamOptions } from './chat.js';
export type { Runs, RunEvent, RunEventsOptions } from './runs.js';
export type { Sessions } from './sessions.js';
export {
  AgentApiError,
  AuthenticationError,
  NetworkError,
  NotConfiguredError,
  NotFoundError,
  RateLimitError,
  RunEventsExpiredError,
  SessionBusyError,
  UpstreamError,
  ValidationError,
} from './errors.js';
export { LineDecoder, SseDecoder, parseSseStream, type SseMessage } from './sse-parser.js';
export type * from './types.js';
