/**
 * The playground: one page, served by the service itself, that talks to it through AgentClient.
 * Bundled by scripts/build-playground.mjs; runs under a strict CSP (no inline script or style,
 * same-origin connections only). Model output reaches the page only as text nodes or through
 * renderMarkdown, which builds DOM nodes — never innerHTML.
 *
 * This file builds the parts, hands each the state and elements it needs, and wires the events.
 */
import { AgentClient } from '../client/index.js';
import { AgentPicker } from './agent-picker.js';
import { Banner } from './banner.js';
import { Composer } from './composer.js';
import { Conversation } from './conversation.js';
import { findElements } from './elements.js';
import { KeyPanel } from './key-panel.js';
import { loadKey, storeKey } from './key-storage.js';
import { RunFollower } from './run-follower.js';
import { Sender } from './send.js';
import { SessionList } from './session-list.js';
import { sessionIdFromUrl } from './session-url.js';
import { SidebarDrawer } from './sidebar-drawer.js';
import { createPlaygroundState } from './state.js';
import { Thread } from './thread.js';
import { Turns } from './turns.js';

const NARROW = window.matchMedia('(max-width: 760px)');

const els = findElements();
const state = createPlaygroundState();

const banner = new Banner(els);
const agentPicker = new AgentPicker(els);
const keyPanel = new KeyPanel(state, els);
const drawer = new SidebarDrawer(els);
const thread = new Thread(els);
const composer = new Composer(els);
const turns = new Turns(state, composer, banner);
// The list calls back into the conversation only on clicks, after both exist.
const sessionList = new SessionList(state, els, keyPanel, banner, {
  open: (id) => void conversation.open(id), // never rejects
  delete: (id) => void conversation.delete(id), // never rejects
});
const follower = new RunFollower(state, { thread, turns, sessionList });
const conversation = new Conversation(state, els, { agentPicker, thread, sessionList, banner, drawer, turns, follower });
const sender = new Sender(state, { agentPicker, thread, composer, banner, keyPanel, sessionList, conversation, turns });

/** Shows the session the URL names (a bookmark, a reload, Back and Forward); none: a new chat. */
function followUrl(): void {
  const id = sessionIdFromUrl();
  if (id === state.sessionId) return;
  if (id === undefined) conversation.newChat('replace');
  else void conversation.open(id, { fromUrl: true }); // never rejects
}

function applyKey(key: string): void {
  const trimmed = key.trim();
  storeKey(trimmed);
  state.client = trimmed ? new AgentClient({ baseUrl: window.location.origin, apiKey: trimmed }) : undefined;
  keyPanel.setKeyState(trimmed ? 'unverified' : 'none');
  banner.hide();
  void sessionList.refresh(); // never rejects; the page stays usable while the list loads
  void agentPicker.load(state.client); // never rejects
  // A link opened before a key was entered (or with a refused one) opens once a key is set.
  const linked = sessionIdFromUrl();
  if (state.client && linked !== undefined && !state.running && (linked !== state.sessionId || els.thread.childElementCount === 0)) {
    void conversation.open(linked, { fromUrl: true }); // never rejects
  }
}

els.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = els.input.value;
  if (!text.trim() || state.running) return;
  els.input.value = '';
  composer.resizeInput();
  void sender.send(text); // never rejects; the composer is free again at once
});

els.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    els.composer.requestSubmit();
  }
});
els.input.addEventListener('input', () => composer.resizeInput());

// Stop cancels the run on the service (it would otherwise go on without the page).
els.stop.addEventListener('click', () => state.running?.stop());
document.addEventListener('keydown', (e) => {
  if (e.key !== 'Escape') return;
  if (state.running) state.running.stop();
  else drawer.close();
});
window.addEventListener('popstate', followUrl);
window.addEventListener('hashchange', followUrl);

els.newSession.addEventListener('click', () => conversation.newChat());
els.sidebarToggle.addEventListener('click', () => (drawer.isOpen() ? drawer.close() : drawer.open()));
els.backdrop.addEventListener('click', () => drawer.close());
NARROW.addEventListener('change', () => drawer.close());

els.keyButton.addEventListener('click', () => (keyPanel.isOpen() ? keyPanel.close() : keyPanel.open()));
els.keyPanel.addEventListener('submit', (e) => {
  e.preventDefault();
  applyKey(els.keyInput.value);
  if (state.client) keyPanel.close();
});
els.keyShow.addEventListener('click', () => keyPanel.toggleKeyShown());
els.bannerClose.addEventListener('click', () => banner.hide());

for (const button of document.querySelectorAll<HTMLButtonElement>('[data-suggestion]')) {
  button.addEventListener('click', () => {
    els.input.value = button.dataset['suggestion'] ?? '';
    composer.resizeInput();
    els.input.focus();
  });
}

const savedKey = loadKey();
els.keyInput.value = savedKey;
applyKey(savedKey);
if (!savedKey) keyPanel.open();
else els.input.focus();
thread.updateEmptyState();
els.app.dataset['ready'] = 'true';
