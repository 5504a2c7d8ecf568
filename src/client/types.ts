// The wire types, inferred from the server's own schemas. Type-only: nothing of the server reaches
// a browser bundle.
import type { ChatRequest } from '../http/schemas.js';

export type { FinishReason, StreamEvent, Usage } from '../core/events.js';
export type { ChatMessage, ToolCall } from '../core/messages.js';
export type { Run, RunStatus } from '../core/runs.js';
export type { SessionSummary } from '../core/sessions.js';
export type { ChatReply, RunCreated, RunPage, SessionDetail, SessionMessage, SessionPage, ToolCallRecord } from '../http/schemas.js';
export type { CreatedKey, KeyList, ManagedKey, UsageReport } from '../http/usage-schemas.js';

/** What the service does with a run when its request hangs up. */
export type OnDisconnect = ChatRequest['on_disconnect'];
