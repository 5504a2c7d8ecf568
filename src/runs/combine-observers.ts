import type { Agent } from '../agent/agent.js';
import type { AgentEvent } from '../core/events.js';
import type { ObservedEnd, ObservedRun, RunObserver } from './run-observer.js';

/** Two observers as one (metrics and traces): each keeps its own state, the second's `around` inside the first's. */
export function combineObservers<A, B>(first: RunObserver<A>, second: RunObserver<B>): RunObserver<[A, B]> {
  return {
    onRunStart: (agent: Agent, run: ObservedRun): [A, B] => [first.onRunStart(agent, run), second.onRunStart(agent, run)],
    onEvent: (state: [A, B], event: AgentEvent) => {
      first.onEvent(state[0], event);
      second.onEvent(state[1], event);
    },
    onRunEnd: (state: [A, B], end: ObservedEnd) => {
      first.onRunEnd(state[0], end);
      second.onRunEnd(state[1], end);
    },
    around: <T>(state: [A, B], work: () => T): T => {
      const inner = second.around ? () => second.around!(state[1], work) : work;
      return first.around ? first.around(state[0], inner) : inner();
    },
  };
}
