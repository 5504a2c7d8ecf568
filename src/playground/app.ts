/**
 * The playground: one page, served by the service itself, that talks to it through AgentClient.
 * Bundled by scripts/build-playground.mjs; runs under a strict CSP (no inline script or style,
 * same-origin connections only). Model output reaches the page only as text nodes or through
 * renderMarkdown, which builds DOM nodes — never innerHTML.
 */
import {
  AgentApiError,
  AgentClient,
  AuthenticationError,
  NetworkError,
  NotConfiguredError,
  NotFoundError,
  RateLimitError,
  SessionBusyError,
  UpstreamError,
  ValidationError,
  type SessionSummary,
  type StoredMessage,
  type StreamEvent,
} from '../client/index.js';
import { renderMarkdown } from './markdown.js';

const KEY_STORAGE = 'agent-api.playground.apiKey';
const NARROW = window.matchMedia('(max-width: 760px)');

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`playground: #${id} is missing from index.html`);
  return el as T;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === 'class') el.className = value;
    else el.setAttribute(name, value);
  }
  if (text !== undefined) el.textContent = text;
  return el;
}

const els = {
  app: byId('app'),
  sidebar: byId('sidebar'),
  backdrop: byId('backdrop'),
  sidebarToggle: byId<HTMLButtonElement>('sidebar-toggle'),
  newSession: byId<HTMLButtonElement>('new-session'),
  sessionList: byId<HTMLUListElement>('session-list'),
  sessionEmpty: byId('session-empty'),
  chatTitle: byId('chat-title'),
  keyButton: byId<HTMLButtonElement>('key-button'),
  keyDot: byId('key-dot'),
  keyPanel: byId<HTMLFormElement>('key-panel'),
  keyInput: byId<HTMLInputElement>('api-key'),
  keyShow: byId<HTMLButtonElement>('key-show'),
  banner: byId('banner'),
  bannerText: byId('banner-text'),
  bannerClose: byId<HTMLButtonElement>('banner-close'),
  messages: byId('messages'),
  thread: byId('thread'),
  emptyState: byId('empty-state'),
  composer: byId<HTMLFormElement>('composer'),
  input: byId<HTMLTextAreaElement>('message-input'),
  send: byId<HTMLButtonElement>('send'),
  stop: byId<HTMLButtonElement>('stop'),
};

const state: {
  client: AgentClient | undefined;
  sessionId: string | undefined;
  running: AbortController | undefined;
  sessions: SessionSummary[];
  /** Bumped whenever the thread is replaced, so late answers for an old view are dropped. */
  view: number;
} = { client: undefined, sessionId: undefined, running: undefined, sessions: [], view: 0 };

// ---- Storage (may be unavailable: private modes, disabled storage) ----

function loadKey(): string {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

function storeKey(key: string): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Not persisted; it still works for this page.
  }
}

// ---- Errors in plain words ----

function withRequestId(text: string, err: AgentApiError): string {
  return err.requestId && err.status >= 500 ? `${text} (request id ${err.requestId})` : text;
}

function describeError(err: unknown, midStream = false): string {
  if (err instanceof AuthenticationError) {
    return 'That API key was not accepted. Check it (a key from VALID_API_KEYS, or the one the service printed at start) and enter it again under “API key”.';
  }
  if (err instanceof SessionBusyError) {
    return 'This session is still answering an earlier message. Wait until that reply has finished, or start a new chat.';
  }
  if (err instanceof NotConfiguredError) return `The service cannot answer yet: ${err.message}`;
  if (err instanceof RateLimitError) return `Too many requests with this key: ${err.message}`;
  if (err instanceof NotFoundError) return 'That session no longer exists (it was deleted, or belongs to another key).';
  if (err instanceof ValidationError) return `The service refused the message: ${err.message}`;
  if (err instanceof UpstreamError) {
    return withRequestId(
      err.code === 'upstream_timeout' ? 'The model did not answer in time. Try again.' : `The model provider failed: ${err.message}`,
      err,
    );
  }
  if (err instanceof NetworkError || err instanceof TypeError) {
    if (!navigator.onLine) return 'You appear to be offline. Check the network connection and try again.';
    return midStream
      ? 'The connection to the service was lost before the reply finished. What arrived is shown above; try again.'
      : 'Could not reach the service. The network may be down or the service stopped; try again in a moment.';
  }
  if (err instanceof AgentApiError) return withRequestId(err.message, err);
  return `Something went wrong: ${err instanceof Error ? err.message : String(err)}`;
}

function showBanner(text: string): void {
  els.bannerText.textContent = text;
  els.banner.hidden = false;
}

function hideBanner(): void {
  els.banner.hidden = true;
  els.bannerText.textContent = '';
}

// ---- Rendering helpers ----

function formatValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

function isToolFailure(result: unknown): boolean {
  return typeof result === 'object' && result !== null && 'error' in result;
}

/** Runs `mutate`, then keeps the conversation scrolled to the bottom if it was there before. */
function keepScrolled(mutate: () => void): void {
  const m = els.messages;
  const atBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 96;
  mutate();
  if (atBottom) m.scrollTop = m.scrollHeight;
}

function scrollToBottom(): void {
  els.messages.scrollTop = els.messages.scrollHeight;
}

function updateEmptyState(): void {
  els.emptyState.hidden = els.thread.childElementCount > 0;
}

function addUserMessage(text: string): HTMLElement {
  const article = h('article', { class: 'msg msg-user', 'data-testid': 'user-message' });
  const body = h('div', { class: 'msg-body' });
  body.appendChild(h('p', { class: 'user-text' }, text));
  article.appendChild(body);
  els.thread.appendChild(article);
  updateEmptyState();
  return article;
}

class ToolCard {
  readonly root: HTMLElement;
  private readonly status: HTMLElement;
  private readonly result: HTMLElement;

  constructor(id: string, name: string, args: unknown) {
    this.root = h('div', { class: 'tool-card', 'data-testid': 'tool-card', 'data-tool-id': id, 'data-state': 'running' });
    const head = h('div', { class: 'tool-head' });
    head.appendChild(h('span', { class: 'tool-icon', 'aria-hidden': 'true' }, 'ƒ'));
    head.appendChild(h('span', { class: 'tool-name', 'data-testid': 'tool-name' }, name));
    this.status = h('span', { class: 'tool-status', 'data-testid': 'tool-status' }, 'running…');
    head.appendChild(this.status);
    this.root.appendChild(head);

    const argsSection = h('div', { class: 'tool-section' });
    argsSection.appendChild(h('div', { class: 'tool-label' }, 'Arguments'));
    argsSection.appendChild(h('pre', { class: 'tool-args', 'data-testid': 'tool-args' }, formatValue(args) || '{}'));
    this.root.appendChild(argsSection);

    const resultSection = h('div', { class: 'tool-section' });
    resultSection.appendChild(h('div', { class: 'tool-label' }, 'Result'));
    this.result = h('pre', { class: 'tool-result pending', 'data-testid': 'tool-result' }, 'waiting for the tool…');
    resultSection.appendChild(this.result);
    this.root.appendChild(resultSection);
  }

  setResult(result: unknown): void {
    const failed = isToolFailure(result);
    this.result.textContent = formatValue(result);
    this.result.classList.remove('pending');
    this.root.dataset.state = failed ? 'error' : 'done';
    this.status.textContent = failed ? 'failed' : 'done';
  }

  /** The run ended without a result (stopped, or history cut short). */
  abandon(): void {
    if (this.root.dataset.state !== 'running') return;
    this.root.dataset.state = 'abandoned';
    this.status.textContent = 'no result';
    this.result.textContent = 'No result: the turn ended before the tool finished.';
  }
}

/** One assistant turn: text segments and tool cards in the order they happened. */
class AssistantView {
  readonly root: HTMLElement;
  private readonly body: HTMLElement;
  private readonly typing: HTMLElement;
  private segment: { el: HTMLElement; raw: string } | undefined;
  private readonly dirty = new Set<{ el: HTMLElement; raw: string }>();
  private frame = 0;
  private readonly cards = new Map<string, ToolCard>();
  hasContent = false;

  constructor(streaming: boolean) {
    this.root = h('article', { class: 'msg msg-assistant', 'data-testid': 'assistant-message', 'data-state': streaming ? 'streaming' : 'done' });
    this.root.appendChild(h('div', { class: 'avatar', 'aria-hidden': 'true' }, 'a'));
    this.body = h('div', { class: 'msg-body' });
    this.typing = h('div', { class: 'typing', 'aria-label': 'The agent is answering' });
    for (let i = 0; i < 3; i++) this.typing.appendChild(h('span'));
    this.typing.hidden = !streaming;
    this.body.appendChild(this.typing);
    this.root.appendChild(this.body);
    els.thread.appendChild(this.root);
    updateEmptyState();
  }

  private insert(el: HTMLElement): void {
    this.body.insertBefore(el, this.typing);
  }

  appendText(text: string, immediate = false): void {
    if (text === '') return;
    if (!this.segment) {
      this.segment = { el: h('div', { class: 'md', 'data-testid': 'reply' }), raw: '' };
      this.insert(this.segment.el);
    }
    this.segment.raw += text;
    this.hasContent = true;
    this.dirty.add(this.segment);
    if (immediate) this.flush();
    else if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  /** Re-renders the segments that changed (at most once per frame while streaming). */
  flush(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.dirty.size === 0) return;
    keepScrolled(() => {
      for (const seg of this.dirty) seg.el.replaceChildren(renderMarkdown(seg.raw));
      this.dirty.clear();
    });
  }

  addTool(id: string, name: string, args: unknown): void {
    this.flush();
    this.segment = undefined; // text after the tool call starts a new segment below the card
    const card = new ToolCard(id, name, args);
    this.cards.set(id, card);
    this.hasContent = true;
    keepScrolled(() => this.insert(card.root));
  }

  setToolResult(id: string, result: unknown): void {
    keepScrolled(() => this.cards.get(id)?.setResult(result));
  }

  note(kind: 'stopped' | 'error' | 'interrupted' | 'empty', text: string): void {
    this.flush();
    const el = h('div', { class: `msg-note note-${kind}`, 'data-testid': 'message-note', 'data-kind': kind, role: kind === 'error' ? 'alert' : 'status' }, text);
    keepScrolled(() => this.insert(el));
  }

  finish(outcome: 'done' | 'stopped' | 'error'): void {
    this.flush();
    this.typing.hidden = true;
    for (const card of this.cards.values()) card.abandon();
    this.root.dataset.state = outcome;
  }
}

// ---- Sessions ----

function setTitle(text: string): void {
  els.chatTitle.textContent = text;
  document.title = text === 'New chat' ? 'agent-api playground' : `${text} · agent-api playground`;
}

function sessionLabel(s: SessionSummary): string {
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

function markActive(): void {
  for (const li of els.sessionList.querySelectorAll<HTMLElement>('[data-session-id]')) {
    const active = li.dataset.sessionId === state.sessionId;
    li.classList.toggle('active', active);
    li.querySelector('.session-open')?.toggleAttribute('aria-current', active);
  }
}

function renderSessions(): void {
  const items = state.sessions.map((s) => {
    const li = h('li', { class: 'session', 'data-testid': 'session-item', 'data-session-id': s.id });
    const open = h('button', { class: 'session-open', type: 'button', title: sessionLabel(s) });
    open.appendChild(h('span', { class: 'session-title', 'data-testid': 'session-title' }, sessionLabel(s)));
    const count = `${s.message_count} message${s.message_count === 1 ? '' : 's'}`;
    open.appendChild(h('span', { class: 'session-meta' }, `${relativeTime(s.updated_at)} · ${count}`));
    open.addEventListener('click', () => void openSession(s.id));

    const del = h('button', { class: 'session-delete', type: 'button', 'data-testid': 'delete-session', 'aria-label': `Delete “${sessionLabel(s)}”`, title: 'Delete' }, '×');
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
      void deleteSession(s.id);
    });
    li.append(open, del);
    return li;
  });
  els.sessionList.replaceChildren(...items);
  els.sessionEmpty.hidden = items.length > 0;
  els.sessionEmpty.textContent = !state.client
    ? 'Enter an API key to see your sessions.'
    : els.keyDot.dataset.state === 'bad'
      ? 'Enter a valid API key to see your sessions.'
      : 'No sessions yet.';
  markActive();
}

async function refreshSessions(): Promise<void> {
  const client = state.client;
  if (!client) {
    state.sessions = [];
    renderSessions();
    return;
  }
  try {
    const page = await client.sessions.list({ limit: 100 });
    if (client !== state.client) return;
    noteKeyOutcome(client);
    state.sessions = page.sessions;
  } catch (err) {
    if (client !== state.client) return;
    noteKeyOutcome(client, err);
    state.sessions = [];
    showBanner(describeError(err));
    if (err instanceof AuthenticationError) openKeyPanel();
  }
  renderSessions();
}

function clearThread(): number {
  state.running?.abort();
  els.thread.replaceChildren();
  updateEmptyState();
  return ++state.view;
}

function newChat(): void {
  clearThread();
  state.sessionId = undefined;
  setTitle('New chat');
  hideBanner();
  markActive();
  closeSidebar();
  els.input.focus();
}

/** Rebuilds a conversation from stored messages: assistant and tool messages after a user message form one turn. */
function renderHistory(messages: StoredMessage[]): void {
  let turn: AssistantView | undefined;
  let interrupted = false;
  const closeTurn = (): void => {
    if (!turn) return;
    if (interrupted) turn.note('interrupted', 'Interrupted: this reply was cut short.');
    turn.finish(interrupted ? 'stopped' : 'done');
    turn = undefined;
    interrupted = false;
  };
  for (const m of messages) {
    if (m.role === 'user') {
      closeTurn();
      addUserMessage(m.content ?? '');
      continue;
    }
    turn ??= new AssistantView(false);
    if (m.role === 'assistant') {
      if (m.content) turn.appendText(m.content, true);
      for (const call of m.tool_calls ?? []) turn.addTool(call.id, call.name, call.arguments);
      if (m.interrupted) interrupted = true;
    } else if (m.tool_call_id) {
      turn.setToolResult(m.tool_call_id, m.result);
    }
  }
  closeTurn();
}

async function openSession(id: string): Promise<void> {
  const client = state.client;
  if (!client) return;
  const view = clearThread();
  state.sessionId = id;
  const summary = state.sessions.find((s) => s.id === id);
  setTitle(summary ? sessionLabel(summary) : 'Session');
  hideBanner();
  markActive();
  closeSidebar();
  els.messages.classList.add('loading');
  try {
    const messages: StoredMessage[] = [];
    let after: number | undefined;
    // Pages of 1000; a very long session stops after 10 pages rather than hanging the page.
    for (let page = 0; page < 10; page++) {
      const detail = await client.sessions.get(id, after === undefined ? {} : { after });
      if (view !== state.view) return;
      if (page === 0) setTitle(sessionLabel(detail));
      messages.push(...detail.messages);
      if (detail.next_after === null) break;
      after = detail.next_after;
    }
    renderHistory(messages);
    scrollToBottom();
  } catch (err) {
    if (view !== state.view) return;
    showBanner(describeError(err));
    if (err instanceof NotFoundError) {
      state.sessionId = undefined;
      setTitle('New chat');
      void refreshSessions();
    }
  } finally {
    if (view === state.view) els.messages.classList.remove('loading');
  }
}

async function deleteSession(id: string): Promise<void> {
  const client = state.client;
  if (!client) return;
  try {
    await client.sessions.delete(id);
    if (state.sessionId === id) newChat();
  } catch (err) {
    showBanner(describeError(err));
  }
  await refreshSessions();
}

// ---- Sending ----

function setRunning(running: boolean): void {
  els.send.hidden = running;
  els.stop.hidden = !running;
  els.app.classList.toggle('running', running);
  if (running) els.stop.focus();
  else if (document.activeElement === els.stop || document.activeElement === document.body) els.input.focus();
}

function resizeInput(): void {
  els.input.style.height = 'auto';
  els.input.style.height = `${Math.min(els.input.scrollHeight, 220)}px`;
}

async function send(text: string): Promise<void> {
  if (state.running) return;
  const client = state.client;
  if (!client) {
    showBanner('Enter an API key first: it is sent as the X-API-Key header with every request.');
    openKeyPanel();
    return;
  }
  hideBanner();
  const view = state.view;
  const user = addUserMessage(text);
  const reply = new AssistantView(true);
  scrollToBottom();
  const controller = new AbortController();
  state.running = controller;
  setRunning(true);
  let started = false;
  let failed = false;
  let outcome: 'done' | 'stopped' | 'error' = 'done';
  const handleEvent = (event: StreamEvent): void => {
    switch (event.type) {
      case 'start':
        started = true;
        noteKeyOutcome(client);
        if (view === state.view) {
          const isNew = state.sessionId !== event.session_id;
          state.sessionId = event.session_id;
          if (isNew) {
            setTitle(text.length > 60 ? `${text.slice(0, 57)}…` : text);
            void refreshSessions();
          }
        }
        break;
      case 'token':
        reply.appendText(event.content);
        break;
      case 'tool_call':
        reply.addTool(event.id, event.name, event.arguments);
        break;
      case 'tool_result':
        reply.setToolResult(event.id, event.result);
        break;
      case 'error':
        failed = true;
        outcome = 'error';
        reply.note(
          'error',
          event.code === 'upstream_timeout'
            ? `The model did not answer in time: ${event.message}`
            : `The model failed while answering: ${event.message}`,
        );
        break;
      case 'end':
        if (!reply.hasContent && !failed) reply.note('empty', 'The model sent an empty reply.');
        break;
    }
  };
  try {
    const options = { signal: controller.signal, ...(state.sessionId ? { sessionId: state.sessionId } : {}) };
    for await (const event of client.stream(text, options)) {
      handleEvent(event);
    }
  } catch (err) {
    noteKeyOutcome(client, err);
    if (controller.signal.aborted) {
      outcome = 'stopped';
      reply.note('stopped', 'Stopped. What arrived so far is kept in the session.');
    } else if (!started) {
      // Nothing reached the session: take the message back so it can be sent again.
      user.remove();
      reply.root.remove();
      updateEmptyState();
      if (!els.input.value) {
        els.input.value = text;
        resizeInput();
      }
      showBanner(describeError(err));
      if (err instanceof AuthenticationError) openKeyPanel();
    } else {
      outcome = 'error';
      reply.note('error', describeError(err, true));
    }
  } finally {
    reply.finish(outcome);
    if (state.running === controller) {
      state.running = undefined;
      setRunning(false);
    }
    if (started) void refreshSessions();
  }

}

// ---- Key panel, sidebar ----

const KEY_STATES = {
  none: 'No API key yet',
  unverified: 'API key set, not used yet',
  ok: 'API key accepted',
  bad: 'API key not accepted',
} as const;

function setKeyState(key: keyof typeof KEY_STATES): void {
  els.keyDot.dataset.state = key;
  els.keyButton.title = KEY_STATES[key];
}

/** After any call with the current key: 401 marks it refused, any other answer from the service accepted. */
function noteKeyOutcome(client: AgentClient, err?: unknown): void {
  if (client !== state.client) return;
  if (err instanceof AuthenticationError) setKeyState('bad');
  else if (err === undefined || (err instanceof AgentApiError && !(err instanceof NetworkError))) setKeyState('ok');
}

function openKeyPanel(): void {
  els.keyPanel.hidden = false;
  els.keyButton.setAttribute('aria-expanded', 'true');
  els.keyInput.focus();
  els.keyInput.select();
}

function closeKeyPanel(): void {
  els.keyPanel.hidden = true;
  els.keyButton.setAttribute('aria-expanded', 'false');
}

function applyKey(key: string): void {
  const trimmed = key.trim();
  storeKey(trimmed);
  state.client = trimmed ? new AgentClient({ baseUrl: window.location.origin, apiKey: trimmed }) : undefined;
  setKeyState(trimmed ? 'unverified' : 'none');
  hideBanner();
  void refreshSessions();
}

function openSidebar(): void {
  els.app.classList.add('sidebar-open');
  els.backdrop.hidden = false;
  els.sidebarToggle.setAttribute('aria-expanded', 'true');
}

function closeSidebar(): void {
  if (!els.app.classList.contains('sidebar-open')) return;
  els.app.classList.remove('sidebar-open');
  els.backdrop.hidden = true;
  els.sidebarToggle.setAttribute('aria-expanded', 'false');
}

// ---- Wiring ----

els.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = els.input.value;
  if (!text.trim() || state.running) return;
  els.input.value = '';
  resizeInput();
  void send(text);
});

els.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    els.composer.requestSubmit();
  }
});
els.input.addEventListener('input', resizeInput);

els.stop.addEventListener('click', () => state.running?.abort());
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  if (state.running) state.running.abort();
  else closeSidebar();
});

els.newSession.addEventListener('click', newChat);
els.sidebarToggle.addEventListener('click', () => (els.app.classList.contains('sidebar-open') ? closeSidebar() : openSidebar()));
els.backdrop.addEventListener('click', closeSidebar);
NARROW.addEventListener('change', () => closeSidebar());

els.keyButton.addEventListener('click', () => (els.keyPanel.hidden ? openKeyPanel() : closeKeyPanel()));
els.keyPanel.addEventListener('submit', (e) => {
  e.preventDefault();
  applyKey(els.keyInput.value);
  if (state.client) closeKeyPanel();
});
els.keyShow.addEventListener('click', () => {
  const show = els.keyInput.type === 'password';
  els.keyInput.type = show ? 'text' : 'password';
  els.keyShow.textContent = show ? 'Hide' : 'Show';
  els.keyShow.setAttribute('aria-pressed', String(show));
});
els.bannerClose.addEventListener('click', hideBanner);

for (const button of document.querySelectorAll<HTMLButtonElement>('[data-suggestion]')) {
  button.addEventListener('click', () => {
    els.input.value = button.dataset.suggestion ?? '';
    resizeInput();
    els.input.focus();
  });
}

const savedKey = loadKey();
els.keyInput.value = savedKey;
applyKey(savedKey);
if (!savedKey) openKeyPanel();
else els.input.focus();
updateEmptyState();
els.app.dataset.ready = 'true';
