// The wire types, inferred from the server's own schemas. Type-only: nothing of the server reaches
// a browser bundle.
import type { Run } from '../core/runs.js';
import type { ChatRequest } from '../http/schemas.js';

export type { StreamEvent, Usage } from '../core/events.js';
export type { ChatMessage, ToolCall } from '../core/messages.js';
export type { Run, RunStatus } from '../core/runs.js';
export type { SessionSummary } from '../core/sessions.js';
export type { ChatReply, SessionDetail, SessionMessage, SessionPage, ToolCallRecord } from '../http/schemas.js';

/** What the service does with a run when its request hangs up. */
export type OnDisconnect = ChatRequest['on_disconnect'];

// The two below restate schemas that src/http/routes/runs.ts and sessions.ts keep private
// (`CreatedRun`, `RunPage`); once they are exported from http/schemas.ts, take them from there.

/** `POST /runs` (202): the run started in the background. */
export interface RunCreated {
  run_id: string;
  session_id: string;
  status: 'running';
}

/** `GET /sessions/{id}/runs`: a page of a session's runs, newest first. */
export interface RunPage {
  runs: Run[];
  /** Pass as `before` for the next page; null on the last one. */
  next_before: string | null;
}
