import type { AgentClient, SessionSummary } from '../client/index.js';

/** What the page knows beyond its DOM. One object, created in main.ts and shared by reference. */
export interface PlaygroundState {
  client: AgentClient | undefined;
  sessionId: string | undefined;
  running: AbortController | undefined;
  sessions: SessionSummary[];
  /** Bumped whenever the thread is replaced, so late answers for an old view are dropped. */
  view: number;
}

export function createPlaygroundState(): PlaygroundState {
  return { client: undefined, sessionId: undefined, running: undefined, sessions: [], view: 0 };
}
