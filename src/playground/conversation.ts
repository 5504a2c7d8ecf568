import { NotFoundError, type SessionMessage } from '../client/index.js';
import type { Banner } from './banner.js';
import { describeError } from './describe-error.js';
import type { Elements } from './elements.js';
import { renderHistory } from './history.js';
import { sessionLabel, type SessionList } from './session-list.js';
import type { SidebarDrawer } from './sidebar-drawer.js';
import type { PlaygroundState } from './state.js';
import type { Thread } from './thread.js';

export interface ConversationParts {
  thread: Thread;
  sessionList: SessionList;
  banner: Banner;
  drawer: SidebarDrawer;
}

/** Which conversation the page shows: a new chat, or a stored session loaded into the thread. */
export class Conversation {
  private readonly thread: Thread;
  private readonly sessionList: SessionList;
  private readonly banner: Banner;
  private readonly drawer: SidebarDrawer;

  constructor(
    private readonly state: PlaygroundState,
    private readonly els: Pick<Elements, 'chatTitle' | 'input'>,
    parts: ConversationParts,
  ) {
    this.thread = parts.thread;
    this.sessionList = parts.sessionList;
    this.banner = parts.banner;
    this.drawer = parts.drawer;
  }

  setTitle(text: string): void {
    this.els.chatTitle.textContent = text;
    document.title = text === 'New chat' ? 'agent-api playground' : `${text} · agent-api playground`;
  }

  /** Empties the thread and stops any reply; returns the new view number. */
  private clearThread(): number {
    this.state.running?.abort();
    this.thread.clear();
    return ++this.state.view;
  }

  newChat(): void {
    this.clearThread();
    this.state.sessionId = undefined;
    this.setTitle('New chat');
    this.banner.hide();
    this.sessionList.markActive();
    this.drawer.close();
    this.els.input.focus();
  }

  /** Never rejects: a failure shows in the banner. */
  async open(id: string): Promise<void> {
    const { state } = this;
    const client = state.client;
    if (!client) return;
    const view = this.clearThread();
    state.sessionId = id;
    const summary = state.sessions.find((s) => s.id === id);
    this.setTitle(summary ? sessionLabel(summary) : 'Session');
    this.banner.hide();
    this.sessionList.markActive();
    this.drawer.close();
    this.thread.setLoading(true);
    try {
      const messages: SessionMessage[] = [];
      let after: number | undefined;
      // Pages of 1000; a very long session stops after 10 pages rather than hanging the page.
      for (let page = 0; page < 10; page++) {
        const detail = await client.sessions.get(id, after === undefined ? {} : { after });
        if (view !== state.view) return;
        if (page === 0) this.setTitle(sessionLabel(detail));
        messages.push(...detail.messages);
        if (detail.next_after === null) break;
        after = detail.next_after;
      }
      renderHistory(this.thread, messages);
      this.thread.scrollToBottom();
    } catch (err) {
      if (view !== state.view) return;
      this.banner.show(describeError(err));
      if (err instanceof NotFoundError) {
        state.sessionId = undefined;
        this.setTitle('New chat');
        void this.sessionList.refresh(); // never rejects; nothing here waits for the list
      }
    } finally {
      if (view === state.view) this.thread.setLoading(false);
    }
  }

  /** Never rejects: a failure shows in the banner. */
  async delete(id: string): Promise<void> {
    const client = this.state.client;
    if (!client) return;
    try {
      await client.sessions.delete(id);
      if (this.state.sessionId === id) this.newChat();
    } catch (err) {
      this.banner.show(describeError(err));
    }
    await this.sessionList.refresh();
  }
}
