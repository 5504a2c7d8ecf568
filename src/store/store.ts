import type { ChatMessage } from '../agent/messages.js';

export interface SessionInfo {
  id: string;
  title: string | null;
  message_count: number;
  created_at: string;
  updated_at: string;
}

export interface StoredMessage {
  seq: number;
  created_at: string;
  message: ChatMessage;
}

/**
 * Persistence behind the HTTP layer. `owner` is an opaque id (a hash of the API key): a session
 * read or written with another owner behaves as if it did not exist.
 */
export interface Store {
  /** Returns the session, creating it if the id is new; undefined if another owner holds the id. */
  openSession(id: string, owner: string, title: string): Promise<SessionInfo | undefined>;
  getSession(id: string, owner: string): Promise<SessionInfo | undefined>;
  listSessions(owner: string, options: { limit: number; before?: string | undefined }): Promise<SessionInfo[]>;
  deleteSession(id: string, owner: string): Promise<boolean>;
  appendMessages(sessionId: string, messages: ChatMessage[]): Promise<void>;
  /** The last `limit` messages, oldest first. */
  recentMessages(sessionId: string, limit: number): Promise<ChatMessage[]>;
  listMessages(sessionId: string, options: { after?: number; limit: number }): Promise<StoredMessage[]>;
  /**
   * Claims the session's single run slot until `until` (ms since epoch), shared by every worker
   * and replica using this store. False when another run holds an unexpired claim.
   */
  claimRun(sessionId: string, until: number): Promise<boolean>;
  extendRun(sessionId: string, until: number): Promise<void>;
  releaseRun(sessionId: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
