import { h } from './dom.js';
import type { Elements } from './elements.js';

/** The conversation column: the messages, its scroll position, and the empty state shown without them. */
export class Thread {
  constructor(private readonly els: Pick<Elements, 'messages' | 'thread' | 'emptyState'>) {}

  /** Runs `mutate`, then keeps the conversation scrolled to the bottom if it was there before. */
  keepScrolled(mutate: () => void): void {
    const m = this.els.messages;
    const atBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 96;
    mutate();
    if (atBottom) m.scrollTop = m.scrollHeight;
  }

  scrollToBottom(): void {
    this.els.messages.scrollTop = this.els.messages.scrollHeight;
  }

  updateEmptyState(): void {
    this.els.emptyState.hidden = this.els.thread.childElementCount > 0;
  }

  append(el: HTMLElement): void {
    this.els.thread.appendChild(el);
    this.updateEmptyState();
  }

  clear(): void {
    this.els.thread.replaceChildren();
    this.updateEmptyState();
  }

  setLoading(loading: boolean): void {
    this.els.messages.classList.toggle('loading', loading);
  }

  /** Adds a user message at the end, or before `before` (a reply already on the page). */
  addUserMessage(text: string, before?: HTMLElement): HTMLElement {
    const article = h('article', { class: 'msg msg-user', 'data-testid': 'user-message' });
    const body = h('div', { class: 'msg-body' });
    body.appendChild(h('p', { class: 'user-text' }, text));
    article.appendChild(body);
    if (before?.parentElement === this.els.thread) this.keepScrolled(() => this.els.thread.insertBefore(article, before));
    else this.append(article);
    return article;
  }
}
