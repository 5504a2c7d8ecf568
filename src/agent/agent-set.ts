import type { Agent } from './agent.js';

/**
 * The agents one server serves, by name, and the one a request gets when it names none. A server
 * made with one agent serves it under its own name (`agent` by default).
 */
export class AgentSet {
  readonly defaultName: string;
  private readonly byName: ReadonlyMap<string, Agent>;

  constructor(agents: Readonly<Record<string, Agent>> | ReadonlyMap<string, Agent>, defaultName?: string) {
    this.byName = agents instanceof Map ? new Map(agents) : new Map(Object.entries(agents));
    const first = this.byName.keys().next();
    if (first.done) throw new TypeError('AgentSet: at least one agent is needed');
    this.defaultName = defaultName ?? first.value;
    if (!this.byName.has(this.defaultName)) {
      throw new TypeError(`AgentSet: the default agent '${this.defaultName}' is not one of ${[...this.byName.keys()].join(', ')}`);
    }
  }

  static of(agent: Agent): AgentSet {
    return new AgentSet(new Map([[agent.name, agent]]), agent.name);
  }

  get default(): Agent {
    return this.byName.get(this.defaultName)!;
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  /** The named agent (the default when no name is given); undefined for a name it does not have. */
  get(name?: string | null): Agent | undefined {
    return name == null ? this.default : this.byName.get(name);
  }

  entries(): IterableIterator<[string, Agent]> {
    return this.byName.entries();
  }
}
