import type { ChatMessage } from '../core/messages.js';
import type { SessionSummary } from '../core/sessions.js';

/** A stored message and its place in the session (`seq` counts from 0). */
export interface MessageRecord {
  seq: number;
  created_at: string;
  message: ChatMessage;
}

/**
 * Persistence behind the HTTP layer. `owner` is an opaque id (a hash of the API key) and a session
 * is named by its owner and its id together: two owners may use the same id, each seeing only their
 * own session, and nothing tells one owner whether another uses an id. Implement it to keep
 * sessions elsewhere; `test/store.test.ts` is the contract every implementation must pass.
 */
export interface Store {
  /**
   * Returns the owner's session, creating it if the id is new to this owner. A new session belongs
   * to `agent` (null: the default one); an existing one keeps the agent it has.
   */
  openSession(id: string, owner: string, title: string, agent?: string | null): Promise<SessionSummary>;
  getSession(id: string, owner: string): Promise<SessionSummary | undefined>;
  /** Most recently updated first (ties by id); `before` is the cursor of the page's last session. */
  listSessions(owner: string, options: { limit: number; before?: string | undefined }): Promise<SessionSummary[]>;
  deleteSession(id: string, owner: string): Promise<boolean>;
  /** Fails if the owner has no session with this id. */
  appendMessages(sessionId: string, owner: string, messages: ChatMessage[]): Promise<void>;
  /** The last `limit` messages, oldest first. */
  recentMessages(sessionId: string, owner: string, limit: number): Promise<ChatMessage[]>;
  listMessages(sessionId: string, owner: string, options: { after?: number; limit: number }): Promise<MessageRecord[]>;
  /**
   * Marks every message after the session's last user message `superseded`: the answer a
   * regenerated one replaces, kept for the record. False when the session (of this owner) has no
   * user message, so there is nothing to answer again.
   */
  supersedeAnswer(sessionId: string, owner: string): Promise<boolean>;
  /**
   * Claims the session's single run slot for the run `token` until `until` (ms since epoch), shared
   * by every worker and replica using this store. False when another run holds an unexpired claim.
   */
  claimSession(sessionId: string, owner: string, token: string, until: number): Promise<boolean>;
  /** Extends the claim; false when `token` no longer holds it (it expired and another run took it). */
  renewSession(sessionId: string, owner: string, token: string, until: number): Promise<boolean>;
  /** Gives the slot up, if `token` still holds it (a run that lost its claim cannot free another's). */
  releaseSession(sessionId: string, owner: string, token: string): Promise<void>;
  /** The run holding the session's unexpired claim, and until when. */
  sessionClaim(sessionId: string, owner: string): Promise<{ token: string; until: number } | undefined>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
