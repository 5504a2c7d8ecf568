import type { AgentClient, SessionSummary } from '../client/index.js';
import type { LiveTurn } from './live-turn.js';

/** What the page knows beyond its DOM. One object, created in main.ts and shared by reference. */
export interface PlaygroundState {
  client: AgentClient | undefined;
  sessionId: string | undefined;
  running: LiveTurn | undefined;
  sessions: SessionSummary[];
  /** The cursor of the next page of sessions; null when the list is complete. */
  sessionsNext: string | null;
  /** Bumped whenever the thread is replaced, so late answers for an old view are dropped. */
  view: number;
}

export function createPlaygroundState(): PlaygroundState {
  return { client: undefined, sessionId: undefined, running: undefined, sessions: [], sessionsNext: null, view: 0 };
}
