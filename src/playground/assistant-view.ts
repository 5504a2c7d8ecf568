import { h } from './dom.js';
import { renderMarkdown } from './markdown.js';
import type { Thread } from './thread.js';
import { ToolCard } from './tool-card.js';

type Segment = { el: HTMLElement; raw: string };

/** One assistant turn: text segments and tool cards in the order they happened. */
export class AssistantView {
  readonly root: HTMLElement;
  private readonly body: HTMLElement;
  private readonly typing: HTMLElement;
  private segment: Segment | undefined;
  private readonly dirty = new Set<Segment>();
  private frame = 0;
  private readonly cards = new Map<string, ToolCard>();
  hasContent = false;

  constructor(
    private readonly thread: Thread,
    streaming: boolean,
  ) {
    this.root = h('article', { class: 'msg msg-assistant', 'data-testid': 'assistant-message', 'data-state': streaming ? 'streaming' : 'done' });
    this.root.appendChild(h('div', { class: 'avatar', 'aria-hidden': 'true' }, 'a'));
    this.body = h('div', { class: 'msg-body' });
    this.typing = h('div', { class: 'typing', 'aria-label': 'The agent is answering' });
    for (let i = 0; i < 3; i++) this.typing.appendChild(h('span'));
    this.typing.hidden = !streaming;
    this.body.appendChild(this.typing);
    this.root.appendChild(this.body);
    thread.append(this.root);
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
    this.thread.keepScrolled(() => {
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
    this.thread.keepScrolled(() => this.insert(card.root));
  }

  setToolResult(id: string, result: unknown): void {
    this.thread.keepScrolled(() => this.cards.get(id)?.setResult(result));
  }

  note(kind: 'stopped' | 'error' | 'interrupted' | 'empty' | 'cut-short', text: string): void {
    this.flush();
    const el = h(
      'div',
      { class: `msg-note note-${kind}`, 'data-testid': 'message-note', 'data-kind': kind, role: kind === 'error' ? 'alert' : 'status' },
      text,
    );
    this.thread.keepScrolled(() => this.insert(el));
  }

  finish(outcome: 'done' | 'stopped' | 'error'): void {
    this.flush();
    this.typing.hidden = true;
    for (const card of this.cards.values()) card.abandon();
    this.root.dataset['state'] = outcome;
  }
}
