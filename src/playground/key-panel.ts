import { AgentApiError, type AgentClient, AuthenticationError, NetworkError } from '../client/index.js';
import type { Elements } from './elements.js';
import type { PlaygroundState } from './state.js';

const KEY_STATES = {
  none: 'No API key yet',
  unverified: 'API key set, not used yet',
  ok: 'API key accepted',
  bad: 'API key not accepted',
} as const;

export type KeyState = keyof typeof KEY_STATES;

/** The API key form under the top bar, and the dot on its button that says whether the key works. */
export class KeyPanel {
  constructor(
    private readonly state: PlaygroundState,
    private readonly els: Pick<Elements, 'keyButton' | 'keyDot' | 'keyPanel' | 'keyInput' | 'keyShow'>,
  ) {}

  setKeyState(key: KeyState): void {
    this.els.keyDot.dataset['state'] = key;
    this.els.keyButton.title = KEY_STATES[key];
  }

  isRefused(): boolean {
    return this.els.keyDot.dataset['state'] === 'bad';
  }

  /** After any call with the current key: 401 marks it refused, any other answer from the service accepted. */
  noteKeyOutcome(client: AgentClient, err?: unknown): void {
    if (client !== this.state.client) return;
    if (err instanceof AuthenticationError) this.setKeyState('bad');
    else if (err === undefined || (err instanceof AgentApiError && !(err instanceof NetworkError))) this.setKeyState('ok');
  }

  isOpen(): boolean {
    return !this.els.keyPanel.hidden;
  }

  open(): void {
    this.els.keyPanel.hidden = false;
    this.els.keyButton.setAttribute('aria-expanded', 'true');
    this.els.keyInput.focus();
    this.els.keyInput.select();
  }

  close(): void {
    this.els.keyPanel.hidden = true;
    this.els.keyButton.setAttribute('aria-expanded', 'false');
  }

  toggleKeyShown(): void {
    const show = this.els.keyInput.type === 'password';
    this.els.keyInput.type = show ? 'text' : 'password';
    this.els.keyShow.textContent = show ? 'Hide' : 'Show';
    this.els.keyShow.setAttribute('aria-pressed', String(show));
  }
}
