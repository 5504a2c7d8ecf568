import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { Agent } from '../agent/agent.js';
import { AgentError } from '../agent/agent-error.js';
import type { StreamEvent, Usage } from '../core/events.js';
import type { ChatMessage } from '../core/messages.js';
import { Transcript } from '../agent/transcript.js';
import type { Store } from '../store/store.js';
import { errorRegistry, type ErrorCode } from '../core/error-codes.js';
import { ApiError } from './errors.js';

/** A crashed worker's claim on a session lapses after this; live runs renew it well before. */
export const RUN_LEASE_MS = 60_000;
const TITLE_LENGTH = 80;
const ZERO_USAGE: Usage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };

export interface TurnRequest {
  owner: string;
  message: string;
  sessionId?: string | undefined;
  /** The request's logger, so failures carry its request id. */
  log?: FastifyBaseLogger | undefined;
}

/**
 * Runs one user turn against a session: claims the session, feeds history to the agent, persists
 * every message as it completes and turns failures into events. Shared by every chat route.
 */
/** Where a turn's history comes from and its messages go: a stored session, or nothing. */
export interface TurnSession {
  readonly id: string;
  history(limit: number): Promise<ChatMessage[]>;
  append(messages: ChatMessage[]): Promise<void>;
  renew(): Promise<void>;
  release(): Promise<void>;
}

export class TurnRunner {
  private readonly shutdown = new AbortController();
  private active = 0;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly agent: Agent,
    private readonly store: Store,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Checks everything that can fail before a response starts, so those failures are plain 4xx/5xx. */
  async begin(req: TurnRequest): Promise<Turn> {
    this.assertReady();
    const { store } = this;
    const id = req.sessionId ?? randomUUID();
    const session = await store.openSession(id, req.owner, req.message.slice(0, TITLE_LENGTH));
    if (!session) throw new ApiError('session_not_found', `No session '${id}'`);
    if (!(await store.claimRun(id, Date.now() + RUN_LEASE_MS))) throw new ApiError('session_busy');
    const stored: TurnSession = {
      id,
      history: (limit) => store.recentMessages(id, limit),
      append: (messages) => store.appendMessages(id, messages),
      renew: () => store.extendRun(id, Date.now() + RUN_LEASE_MS),
      release: () => store.releaseRun(id),
    };
    return new Turn(this, stored, req.message, req.log ?? this.log);
  }

  /**
   * A turn whose history the caller supplies and that stores nothing (for protocols whose
   * requests carry the whole conversation). It still counts as a run for shutdown.
   */
  beginEphemeral(req: { message: string; history: ChatMessage[]; log?: FastifyBaseLogger }): Turn {
    this.assertReady();
    const ephemeral: TurnSession = {
      id: '',
      history: async (limit) => req.history.slice(-limit),
      append: async () => {},
      renew: async () => {},
      release: async () => {},
    };
    return new Turn(this, ephemeral, req.message, req.log ?? this.log);
  }

  private assertReady(): void {
    const reason = this.agent.notReadyReason();
    if (reason) throw new ApiError('model_not_configured', reason);
  }

  /** Runs still going: shutdown waits for these. */
  get activeRuns(): number {
    return this.active;
  }

  /** Resolves once no run is going (a run can outlive its response when the client hung up). */
  whenIdle(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Ends every run early (used when the shutdown grace period is over). */
  abortAll(): void {
    this.shutdown.abort(new Error('server shutting down'));
  }

  /** @internal */
  async *run(turn: Turn, clientSignal: AbortSignal): AsyncGenerator<StreamEvent> {
    const { agent } = this;
    const { session, message, log } = turn;
    const sessionId = session.id;
    const signal = AbortSignal.any([clientSignal, this.shutdown.signal]);
    const transcript = new Transcript();
    const persist = (messages: ChatMessage[]) => (messages.length ? session.append(messages) : Promise.resolve());
    const saveInterrupted = () =>
      persist(transcript.finish(true)).catch((err: unknown) => log.error({ err, sessionId }, 'could not save the interrupted reply'));
    let usage = ZERO_USAGE;
    let closed = false; // the turn's last message is stored (or storing it was attempted)
    this.active++;
    const renew = setInterval(() => {
      session.renew().catch((err: unknown) => log.warn({ err, sessionId }, 'could not renew session lease'));
    }, RUN_LEASE_MS / 3);

    try {
      yield { type: 'start', session_id: sessionId };
      try {
        const history = await session.history(agent.historyWindow);
        await persist([{ role: 'user', content: message }]);
        for await (const event of agent.run({ history, message, signal })) {
          if (event.type === 'finish') {
            usage = event.usage;
            continue;
          }
          await persist(transcript.add(event));
          yield event;
        }
        closed = true;
        await persist(transcript.finish(false));
        yield { type: 'end', session_id: sessionId, reply: transcript.reply, usage };
      } catch (err) {
        // Whatever failed (model, tool loop or store), the client still gets `error` then `end`.
        closed = true;
        await saveInterrupted();
        if (clientSignal.aborted) return; // nobody is listening
        const { code, message: text } = describeFailure(err, log);
        yield { type: 'error', code, message: text };
        yield { type: 'end', session_id: sessionId, reply: transcript.reply, usage };
      }
    } finally {
      clearInterval(renew);
      // A consumer that stopped iterating early still leaves a consistent, unlocked session.
      if (!closed) await saveInterrupted();
      await session.release().catch((err: unknown) => log.error({ err, sessionId }, 'could not release the session'));
      this.active--;
      if (this.active === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}

export class Turn {
  constructor(
    private readonly runner: TurnRunner,
    /** @internal */
    readonly session: TurnSession,
    readonly message: string,
    readonly log: FastifyBaseLogger,
  ) {}

  /** The stored session's id; '' for an ephemeral turn. */
  get sessionId(): string {
    return this.session.id;
  }

  /** The turn's events, `start` first and `end` last; aborting `signal` stops the agent at once. */
  events(signal: AbortSignal): AsyncGenerator<StreamEvent> {
    return this.runner.run(this, signal);
  }
}

function describeFailure(err: unknown, log: FastifyBaseLogger): { code: ErrorCode; message: string } {
  // Only shutdown aborts a run that still has a listener; a client's own abort is never reported.
  if (err instanceof AgentError) {
    const { code } = err;
    return code === 'aborted' ? { code: 'shutting_down', message: errorRegistry.shutting_down.message } : { code, message: err.message };
  }
  log.error({ err }, 'agent run failed');
  return { code: 'internal_error', message: errorRegistry.internal_error.message };
}
