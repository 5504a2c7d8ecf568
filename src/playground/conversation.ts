import { NotFoundError, ValidationError, type Run, type SessionMessage } from '../client/index.js';
import type { AgentPicker } from './agent-picker.js';
import { AssistantView } from './assistant-view.js';
import type { Banner } from './banner.js';
import { describeError } from './describe-error.js';
import type { Elements } from './elements.js';
import { renderHistory } from './history.js';
import type { FollowedRun, RunFollower } from './run-follower.js';
import { sessionLabel, type SessionList } from './session-list.js';
import { isSessionId, setSessionUrl } from './session-url.js';
import type { SidebarDrawer } from './sidebar-drawer.js';
import type { PlaygroundState } from './state.js';
import type { Thread } from './thread.js';
import type { Turns } from './turns.js';

export interface ConversationParts {
  agentPicker: AgentPicker;
  thread: Thread;
  sessionList: SessionList;
  banner: Banner;
  drawer: SidebarDrawer;
  turns: Turns;
  follower: RunFollower;
}

export interface OpenOptions {
  /** The URL named the session (a bookmark, a reload, Back): it is not pushed again, and a missing one is explained as a bad link. */
  fromUrl?: boolean;
}

/**
 * The stored messages split at the run still answering: those before it (history to show as it
 * is) and its own (the user message, and whatever parts of the reply are stored so far). The run's
 * messages start with its user message, the first one stored once the run had begun.
 */
function splitAtRun(messages: SessionMessage[], run: Run): { before: SessionMessage[]; question: string | undefined } {
  const at = messages.findIndex((m) => m.role === 'user' && m.created_at >= run.created_at);
  if (at < 0) return { before: messages, question: undefined };
  const user = messages[at];
  return { before: messages.slice(0, at), question: user?.role === 'user' ? (user.content ?? '') : undefined };
}

function badLink(id: string): string {
  const shown = id.length > 80 ? `${id.slice(0, 77)}…` : id;
  return `The link names a session that does not exist (“${shown}”): it was deleted, belongs to another API key, or the link is mistyped.`;
}

/** Which conversation the page shows: a new chat, or a stored session loaded into the thread. */
export class Conversation {
  private readonly agentPicker: AgentPicker;
  private readonly thread: Thread;
  private readonly sessionList: SessionList;
  private readonly banner: Banner;
  private readonly drawer: SidebarDrawer;
  private readonly turns: Turns;
  private readonly follower: RunFollower;

  constructor(
    private readonly state: PlaygroundState,
    private readonly els: Pick<Elements, 'chatTitle' | 'input'>,
    parts: ConversationParts,
  ) {
    this.agentPicker = parts.agentPicker;
    this.thread = parts.thread;
    this.sessionList = parts.sessionList;
    this.banner = parts.banner;
    this.drawer = parts.drawer;
    this.turns = parts.turns;
    this.follower = parts.follower;
  }

  setTitle(text: string): void {
    this.els.chatTitle.textContent = text;
    document.title = text === 'New chat' ? 'agent-api playground' : `${text} · agent-api playground`;
  }

  /** Empties the thread, leaving any live reply to finish on the service; returns the new view number. */
  private clearThread(): number {
    this.turns.leave();
    this.thread.clear();
    return ++this.state.view;
  }

  /** `replace` when the session shown is gone (deleted), so Back does not lead to it. */
  newChat(url: 'push' | 'replace' = 'push'): void {
    this.clearThread();
    this.state.sessionId = undefined;
    this.agentPicker.unlock();
    setSessionUrl(undefined, url);
    this.setTitle('New chat');
    this.banner.hide();
    this.sessionList.markActive();
    this.drawer.close();
    this.els.input.focus();
  }

  /** Never rejects: a failure shows in the banner. */
  async open(id: string, options: OpenOptions = {}): Promise<void> {
    const { state } = this;
    const client = state.client;
    if (!client) return;
    const view = this.clearThread();
    state.sessionId = id;
    setSessionUrl(id, options.fromUrl ? 'replace' : 'push');
    const summary = state.sessions.find((s) => s.id === id);
    this.agentPicker.lock(summary?.agent);
    this.setTitle(summary ? sessionLabel(summary) : 'Session');
    this.banner.hide();
    this.sessionList.markActive();
    this.drawer.close();
    if (!isSessionId(id)) {
      this.notFound(badLink(id));
      return;
    }
    this.thread.setLoading(true);
    let follow: FollowedRun | undefined;
    try {
      const messages: SessionMessage[] = [];
      let activeRunId: string | null = null;
      let after: number | undefined;
      // Pages of 1000; a very long session stops after 10 pages rather than hanging the page.
      for (let page = 0; page < 10; page++) {
        const detail = await client.sessions.get(id, after === undefined ? {} : { after });
        if (view !== state.view) return;
        if (page === 0) {
          this.setTitle(sessionLabel(detail));
          this.agentPicker.lock(detail.agent);
          activeRunId = detail.active_run_id;
        }
        messages.push(...detail.messages);
        if (detail.next_after === null) break;
        after = detail.next_after;
      }
      // A run that cannot be read (it ended and was cleaned up meanwhile) leaves the history as stored.
      const run = activeRunId === null ? undefined : await client.runs.get(activeRunId).catch(() => undefined);
      if (view !== state.view) return;
      if (!run) {
        renderHistory(this.thread, messages);
      } else {
        const { before, question } = splitAtRun(messages, run);
        renderHistory(this.thread, before);
        if (question !== undefined) this.thread.addUserMessage(question);
        const reply = new AssistantView(this.thread, true);
        follow = { view, sessionId: id, runId: run.id, reply, userShown: question !== undefined, lastSeq: messages.at(-1)?.seq ?? -1 };
      }
      this.thread.scrollToBottom();
    } catch (err) {
      if (view !== state.view) return;
      if (err instanceof NotFoundError || err instanceof ValidationError) this.notFound(options.fromUrl ? badLink(id) : describeError(err));
      else this.banner.show(describeError(err));
    } finally {
      if (view === state.view) this.thread.setLoading(false);
    }
    if (follow) await this.follower.follow(follow);
  }

  /** The session is not there for this key: back to a new chat, saying so. */
  private notFound(message: string): void {
    this.banner.show(message);
    this.state.sessionId = undefined;
    this.agentPicker.unlock();
    setSessionUrl(undefined, 'replace');
    this.setTitle('New chat');
    this.sessionList.markActive();
    void this.sessionList.refresh(); // never rejects; nothing here waits for the list
  }

  /** Never rejects: a failure shows in the banner. */
  async delete(id: string): Promise<void> {
    const client = this.state.client;
    if (!client) return;
    try {
      await client.sessions.delete(id);
      if (this.state.sessionId === id) this.newChat('replace');
    } catch (err) {
      this.banner.show(describeError(err));
    }
    await this.sessionList.refresh();
  }
}
