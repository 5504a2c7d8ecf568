import type { ChatMessage } from '../agent/messages.js';

export interface SessionInfo {
  id: string;
  title: string | null;
  message_count: number;
  created_at: string;
  updated_at: string;
}

/**
 * The `listSessions` cursor for the page after `last`: its updated_at plus its id, so sessions
 * updated in the same millisecond are neither skipped nor repeated. ('~' occurs in neither.)
 */
export function sessionCursor(last: Pick<SessionInfo, 'updated_at' | 'id'>): string {
  return `${last.updated_at}~${last.id}`;
}

/** Splits a cursor from `sessionCursor`; a bare updated_at (no id) means "updated strictly earlier". */
export function parseSessionCursor(cursor: string): { updated_at: string; id?: string } {
  const i = cursor.indexOf('~');
  return i < 0 ? { updated_at: cursor } : { updated_at: cursor.slice(0, i), id: cursor.slice(i + 1) };
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
  /** Most recently updated first (ties by id); `before` is a cursor from `sessionCursor`. */
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
