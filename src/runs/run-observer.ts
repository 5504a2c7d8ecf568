import type { Agent } from '../agent/agent.js';
import type { ErrorCode } from '../core/error-codes.js';
import type { AgentEvent, FinishReason, Usage } from '../core/events.js';
import type { RunOutcome } from '../store/run-store.js';

/** How a run ended, as an observer sees it. */
export interface ObservedEnd {
  status: RunOutcome['status'];
  /** The error's code when the run did not complete. */
  errorCode: ErrorCode | null;
  /** The error's message, with its code. */
  errorMessage: string | null;
  usage: Usage | null;
  finishReason: FinishReason;
  /** The reply text, as far as it got. */
  reply: string;
}

/** The run, as an observer is told of it when it starts. */
export interface ObservedRun {
  id: string;
  /** null for a run without a stored session. */
  sessionId: string | null;
  /** The new user message, if the turn has one. */
  message: string | undefined;
}

/**
 * Watches the runs of this process (metrics, traces) without the run service knowing what for.
 * `onRunStart` returns the observer's own per-run state, handed back with each event and at the
 * end, so an observer keeps what it needs per run without a lookup per event. Callbacks must not
 * throw and should not allocate per event: they run on every token.
 */
export interface RunObserver<State = unknown> {
  onRunStart(agent: Agent, run: ObservedRun): State;
  /**
   * Runs the run's work (the agent loop and the recording of its end) inside whatever the observer
   * needs around it: the trace context that the agent's own spans take as their parent. Called
   * right after onRunStart, in the context of the request that started the run.
   */
  around?<T>(state: State, work: () => T): T;
  onEvent(state: State, event: AgentEvent): void;
  onRunEnd(state: State, end: ObservedEnd): void;
}
