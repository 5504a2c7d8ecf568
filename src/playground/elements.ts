import { byId } from './dom.js';

/** The elements of index.html the playground drives, looked up once at start. */
export interface Elements {
  app: HTMLElement;
  sidebar: HTMLElement;
  backdrop: HTMLElement;
  sidebarToggle: HTMLButtonElement;
  newSession: HTMLButtonElement;
  sessionList: HTMLUListElement;
  sessionEmpty: HTMLElement;
  chatTitle: HTMLElement;
  agentSelect: HTMLSelectElement;
  keyButton: HTMLButtonElement;
  keyDot: HTMLElement;
  keyPanel: HTMLFormElement;
  keyInput: HTMLInputElement;
  keyShow: HTMLButtonElement;
  banner: HTMLElement;
  bannerText: HTMLElement;
  bannerClose: HTMLButtonElement;
  messages: HTMLElement;
  thread: HTMLElement;
  emptyState: HTMLElement;
  composer: HTMLFormElement;
  input: HTMLTextAreaElement;
  send: HTMLButtonElement;
  stop: HTMLButtonElement;
}

/** Throws if index.html lacks one of them, so a renamed id fails loudly at load. */
export function findElements(): Elements {
  return {
    app: byId('app'),
    sidebar: byId('sidebar'),
    backdrop: byId('backdrop'),
    sidebarToggle: byId<HTMLButtonElement>('sidebar-toggle'),
    newSession: byId<HTMLButtonElement>('new-session'),
    sessionList: byId<HTMLUListElement>('session-list'),
    sessionEmpty: byId('session-empty'),
    chatTitle: byId('chat-title'),
    agentSelect: byId<HTMLSelectElement>('agent-select'),
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
}
