// The wire types, inferred from the server's own schemas. Type-only: nothing of the server reaches
// a browser bundle.
export type { StreamEvent, Usage } from '../core/events.js';
export type { ChatMessage, ToolCall } from '../core/messages.js';
export type { SessionSummary } from '../core/sessions.js';
export type { ChatReply, SessionDetail, SessionMessage, SessionPage, ToolCallRecord } from '../http/schemas.js';
