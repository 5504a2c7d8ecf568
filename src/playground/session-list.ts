import { AuthenticationError, type SessionSummary } from '../client/index.js';
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

/** The sidebar's list of the key's sessions, newest first as the service sends them. */
export class SessionList {
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
    this.els.sessionList.replaceChildren(...items);
    this.els.sessionEmpty.hidden = items.length > 0;
    this.els.sessionEmpty.textContent = !this.state.client
      ? 'Enter an API key to see your sessions.'
      : this.keyPanel.isRefused()
        ? 'Enter a valid API key to see your sessions.'
        : 'No sessions yet.';
    this.markActive();
  }

  /** Never rejects: a failure empties the list and shows in the banner. */
  async refresh(): Promise<void> {
    const { state } = this;
    const client = state.client;
    if (!client) {
      state.sessions = [];
      this.render();
      return;
    }
    try {
      const page = await client.sessions.list({ limit: 100 });
      if (client !== state.client) return;
      this.keyPanel.noteKeyOutcome(client);
      state.sessions = page.sessions;
    } catch (err) {
      if (client !== state.client) return;
      this.keyPanel.noteKeyOutcome(client, err);
      state.sessions = [];
      this.banner.show(describeError(err));
      if (err instanceof AuthenticationError) this.keyPanel.open();
    }
    this.render();
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
