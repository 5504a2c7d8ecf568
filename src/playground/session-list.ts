import { AuthenticationError, type AgentClient, type SessionSummary } from '../client/index.js';
import type { Banner } from './banner.js';
import { describeError } from './describe-error.js';
import { h } from './dom.js';
import type { Elements } from './elements.js';
import type { KeyPanel } from './key-panel.js';
import type { PlaygroundState } from './state.js';

export function sessionLabel(s: SessionSummary): string {
  return s.title?.trim() || 'Untitled session';
}

function relativeTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

/** What a click in the list does; the caller decides (see Conversation). */
export interface SessionActions {
  open(id: string): void;
  delete(id: string): void;
}

/** Appends the sessions not already listed (one may have moved up between two pages). */
function appendNew(into: SessionSummary[], page: SessionSummary[]): void {
  const seen = new Set(into.map((s) => s.id));
  for (const s of page) if (!seen.has(s.id)) into.push(s);
}

/** Sessions per page: the first page on every refresh, and each "Load more". */
const PAGE = 100;

/**
 * The sidebar's list of the key's sessions, newest first as the service sends them, a page at a
 * time: "Load more" at the end of the list fetches the next page with the service's cursor.
 */
export class SessionList {
  /** Bumped by each refresh, so an older refresh or a "Load more" started before it is dropped. */
  private generation = 0;
  private loadingMore = false;
  /** The client the shown sessions came from: a refresh with the same one keeps as many rows. */
  private loadedWith: AgentClient | undefined;

  constructor(
    private readonly state: PlaygroundState,
    private readonly els: Pick<Elements, 'sessionList' | 'sessionEmpty'>,
    private readonly keyPanel: KeyPanel,
    private readonly banner: Banner,
    private readonly actions: SessionActions,
  ) {}

  markActive(): void {
    for (const li of this.els.sessionList.querySelectorAll<HTMLElement>('[data-session-id]')) {
      const active = li.dataset['sessionId'] === this.state.sessionId;
      li.classList.toggle('active', active);
      li.querySelector('.session-open')?.toggleAttribute('aria-current', active);
    }
  }

  render(): void {
    const items = this.state.sessions.map((s) => this.renderItem(s));
    const more = this.state.sessionsNext === null ? [] : [this.renderMore()];
    this.els.sessionList.replaceChildren(...items, ...more);
    this.els.sessionEmpty.hidden = items.length > 0;
    this.els.sessionEmpty.textContent = !this.state.client
      ? 'Enter an API key to see your sessions.'
      : this.keyPanel.isRefused()
        ? 'Enter a valid API key to see your sessions.'
        : 'No sessions yet.';
    this.markActive();
  }

  /**
   * Reloads the list from the newest session, as many pages as were shown (so a refresh after a
   * reply does not take away what "Load more" brought). Never rejects: a failure empties the list
   * and shows in the banner.
   */
  async refresh(): Promise<void> {
    const { state } = this;
    const generation = ++this.generation;
    const client = state.client;
    if (!client) {
      state.sessions = [];
      state.sessionsNext = null;
      this.render();
      return;
    }
    const want = this.loadedWith === client ? Math.max(PAGE, state.sessions.length) : PAGE;
    try {
      const sessions: SessionSummary[] = [];
      let next: string | null = null;
      do {
        const page = await client.sessions.list({ limit: PAGE, ...(next === null ? {} : { before: next }) });
        if (generation !== this.generation || client !== state.client) return;
        appendNew(sessions, page.sessions);
        next = page.next_before;
      } while (next !== null && sessions.length < want);
      this.keyPanel.noteKeyOutcome(client);
      state.sessions = sessions;
      state.sessionsNext = next;
      this.loadedWith = client;
    } catch (err) {
      if (generation !== this.generation || client !== state.client) return;
      this.keyPanel.noteKeyOutcome(client, err);
      state.sessions = [];
      state.sessionsNext = null;
      this.loadedWith = undefined;
      this.banner.show(describeError(err));
      if (err instanceof AuthenticationError) this.keyPanel.open();
    }
    this.render();
  }

  /** The next page, appended. Never rejects: a failure shows in the banner and the button stays. */
  async loadMore(): Promise<void> {
    const { state } = this;
    const client = state.client;
    const before = state.sessionsNext;
    if (!client || before === null || this.loadingMore) return;
    const generation = this.generation;
    this.loadingMore = true;
    this.render();
    try {
      const page = await client.sessions.list({ limit: PAGE, before });
      if (generation !== this.generation || client !== state.client) return;
      const sessions = [...state.sessions];
      appendNew(sessions, page.sessions);
      state.sessions = sessions;
      state.sessionsNext = page.next_before;
    } catch (err) {
      if (generation !== this.generation || client !== state.client) return;
      this.keyPanel.noteKeyOutcome(client, err);
      this.banner.show(describeError(err));
    } finally {
      this.loadingMore = false;
    }
    this.render();
  }

  private renderMore(): HTMLLIElement {
    const li = h('li', { class: 'session-more' });
    const button = h(
      'button',
      { class: 'btn btn-ghost btn-block', type: 'button', 'data-testid': 'load-more-sessions' },
      this.loadingMore ? 'Loading…' : 'Load more',
    );
    button.disabled = this.loadingMore;
    button.addEventListener('click', () => void this.loadMore()); // never rejects
    li.appendChild(button);
    return li;
  }

  private renderItem(s: SessionSummary): HTMLLIElement {
    const li = h('li', { class: 'session', 'data-testid': 'session-item', 'data-session-id': s.id });
    const open = h('button', { class: 'session-open', type: 'button', title: sessionLabel(s) });
    open.appendChild(h('span', { class: 'session-title', 'data-testid': 'session-title' }, sessionLabel(s)));
    const count = `${s.message_count} message${s.message_count === 1 ? '' : 's'}`;
    open.appendChild(h('span', { class: 'session-meta' }, `${relativeTime(s.updated_at)} · ${count}`));
    open.addEventListener('click', () => this.actions.open(s.id));

    const del = h(
      'button',
      { class: 'session-delete', type: 'button', 'data-testid': 'delete-session', 'aria-label': `Delete “${sessionLabel(s)}”`, title: 'Delete' },
      '×',
    );
    let armed: ReturnType<typeof setTimeout> | undefined;
    del.addEventListener('click', (e) => {
      e.stopPropagation();
      if (!armed) {
        // First click arms, second deletes: a stray tap does not lose a conversation.
        del.classList.add('armed');
        del.textContent = 'Delete?';
        armed = setTimeout(() => {
          armed = undefined;
          del.classList.remove('armed');
          del.textContent = '×';
        }, 3000);
        return;
      }
      clearTimeout(armed);
      this.actions.delete(s.id);
    });
    li.append(open, del);
    return li;
  }
}
