import { h } from './dom.js';

function formatValue(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  // Tool values arrive as JSON, so these fallbacks only guard against a value JSON cannot show.
  try {
    return JSON.stringify(value, null, 2) ?? typeof value;
  } catch {
    return typeof value === 'bigint' ? value.toString() : '[a value that cannot be shown]';
  }
}

function isToolFailure(result: unknown): boolean {
  return typeof result === 'object' && result !== null && 'error' in result;
}

/** One tool call in an assistant turn: its name, arguments and (once it arrives) result. */
export class ToolCard {
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
    this.root.dataset['state'] = failed ? 'error' : 'done';
    this.status.textContent = failed ? 'failed' : 'done';
  }

  /** The run ended without a result (stopped, or history cut short). */
  abandon(): void {
    if (this.root.dataset['state'] !== 'running') return;
    this.root.dataset['state'] = 'abandoned';
    this.status.textContent = 'no result';
    this.result.textContent = 'No result: the turn ended before the tool finished.';
  }
}
