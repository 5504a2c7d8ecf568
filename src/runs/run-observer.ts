import type { Agent } from '../agent/agent.js';
import type { ErrorCode } from '../core/error-codes.js';
import type { AgentEvent } from '../core/events.js';
import type { RunOutcome } from '../store/run-store.js';

/** How a run ended, as an observer sees it. */
export interface ObservedEnd {
  status: RunOutcome['status'];
  /** The error's code when the run did not complete. */
  errorCode: ErrorCode | null;
}

/**
 * Watches the runs of this process (metrics, traces) without the run service knowing what for.
 * `onRunStart` returns the observer's own per-run state, handed back with each event and at the
 * end, so an observer keeps what it needs per run without a lookup per event. Callbacks must not
 * throw and should not allocate per event: they run on every token.
 */
export interface RunObserver<State = unknown> {
  onRunStart(agent: Agent): State;
  onEvent(state: State, event: AgentEvent): void;
  onRunEnd(state: State, end: ObservedEnd): void;
}
