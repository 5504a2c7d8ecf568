/**
 * The open session lives in the URL's fragment (`/#/sessions/<id>`): the service serves only `/`,
 * and a fragment never reaches it, so a bookmark or a reload of any session loads the same page.
 */
const PREFIX = '#/sessions/';

/** What a session id may look like (the service's own rule), so a mangled link is caught here. */
const SESSION_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The session the URL names: undefined for none, '' kept as is for a link with a bad id (the caller explains). */
export function sessionIdFromUrl(): string | undefined {
  const hash = window.location.hash;
  if (!hash.startsWith(PREFIX)) return undefined;
  const raw = hash.slice(PREFIX.length);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

/**
 * Points the URL at `id` (undefined: no session). `push` adds a history entry, so Back returns to
 * the previous conversation; `replace` rewrites the current one (a new chat that became a session,
 * a link that led nowhere).
 */
export function setSessionUrl(id: string | undefined, mode: 'push' | 'replace'): void {
  if (sessionIdFromUrl() === id && (id !== undefined || window.location.hash === '')) return;
  const { pathname, search } = window.location;
  const url = id === undefined ? `${pathname}${search}` : `${pathname}${search}${PREFIX}${encodeURIComponent(id)}`;
  if (mode === 'push') window.history.pushState(null, '', url);
  else window.history.replaceState(null, '', url);
}
