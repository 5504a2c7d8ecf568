import type { AgentClient } from '../client/index.js';
import type { Elements } from './elements.js';

/**
 * The agent select in the top bar: which agent answers a new chat. Filled from GET /v1/models (the
 * default agent comes first, so it is preselected); hidden while the service serves one agent. A
 * stored session keeps its agent, so the select shows it and is locked while that session is open.
 */
export class AgentPicker {
  /** The agent of the session shown (null: the default); undefined in a new chat. */
  private sessionAgent: string | null | undefined;

  constructor(private readonly els: Pick<Elements, 'agentSelect'>) {}

  /** Never rejects: without the list the select stays hidden and chats go to the default agent. */
  async load(client: AgentClient | undefined): Promise<void> {
    const select = this.els.agentSelect;
    const names = client ? await client.agents().catch(() => []) : [];
    const chosen = select.value;
    select.replaceChildren(
      ...names.map((name) => {
        const option = document.createElement('option');
        option.value = option.textContent = name;
        return option;
      }),
    );
    select.hidden = names.length < 2;
    if (this.sessionAgent !== undefined) this.show(this.sessionAgent);
    else if (names.includes(chosen)) select.value = chosen;
  }

  /** The agent to name for a new chat; none in a stored session (it keeps its own) or when there is no choice. */
  forNewChat(): string | undefined {
    const select = this.els.agentSelect;
    return this.sessionAgent !== undefined || select.value === '' ? undefined : select.value;
  }

  /** A session is shown: its agent (null or undefined: the default) is shown and cannot be changed. */
  lock(agent: string | null | undefined): void {
    this.sessionAgent = agent ?? null;
    this.show(this.sessionAgent);
    this.els.agentSelect.disabled = true;
  }

  /** A new chat: the choice is open again, from the default agent. */
  unlock(): void {
    this.sessionAgent = undefined;
    this.els.agentSelect.disabled = false;
    this.els.agentSelect.selectedIndex = 0;
  }

  private show(agent: string | null): void {
    const select = this.els.agentSelect;
    if (agent !== null && [...select.options].some((o) => o.value === agent)) select.value = agent;
    else select.selectedIndex = 0;
  }
}
