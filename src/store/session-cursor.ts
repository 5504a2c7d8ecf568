import type { SessionSummary } from '../core/sessions.js';

/**
 * The `listSessions` cursor for the page after `last`: its updated_at plus its id, so sessions
 * updated in the same millisecond are neither skipped nor repeated. ('~' occurs in neither.)
 */
export function sessionCursor(last: Pick<SessionSummary, 'updated_at' | 'id'>): string {
  return `${last.updated_at}~${last.id}`;
}

/** Splits a cursor from `sessionCursor`; a bare updated_at (no id) means "updated strictly earlier". */
export function parseSessionCursor(cursor: string): { updated_at: string; id?: string } {
  const i = cursor.indexOf('~');
  return i < 0 ? { updated_at: cursor } : { updated_at: cursor.slice(0, i), id: cursor.slice(i + 1) };
}
