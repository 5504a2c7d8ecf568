import type { Agent } from '../agent/agent.js';
import type { ClientTool } from '../agent/prepare-tools.js';
import { AgentSet } from '../agent/agent-set.js';
import type { Attachment, ModelSettings, ToolChoice } from '../core/turn-options.js';
import { AgentError } from '../agent/agent-error.js';
import { Transcript } from '../agent/transcript.js';
import { errorRegistry, type ErrorCode } from '../core/error-codes.js';
import type { FinishReason, StreamEvent, Usage } from '../core/events.js';
import type { ChatMessage } from '../core/messages.js';
import { FINAL_STATUSES, type Run, type RunStatus } from '../core/runs.js';
import { hasRunSignals, type LoggedEvent, type NewRun, type RunOutcome, type RunRecord, type RunSignals, type RunState } from '../store/run-store.js';
import type { Storage } from '../store/storage.js';
import { LiveLog, type SeqEvent } from './live-log.js';
import { ReadBack } from './read-back.js';
import { RunError } from './run-error.js';
import type { RunObserver } from './run-observer.js';
import { runJson } from './run-json.js';
import { uuidv7 } from './uuid-v7.js';
import { abortableSleep as sleep } from '../core/abortable-sleep.js';

/** What the service logs through: pino's shape, so Fastify's logger fits without tying runs to HTTP. */
export interface RunLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RunRequest {
  owner: string;
  /** Which agent answers (AgentSet's name); the default one when absent. An unknown name is `model_not_found`. */
  agent?: string | undefined;
  /**
   * The new user message, stored with the session. Absent when the turn only carries results of
   * client tools: `history` (or, in a session, `toolResults`) then ends with them.
   */
  message?: string | undefined;
  /**
   * Answer the session's last user message again (a session turn without `message`): the answer
   * after it is marked superseded, kept for the record but no longer shown to the model, in the
   * same transaction as the claim. A session with no user message is a `validation_error` on `regenerate`.
   */
  regenerate?: boolean | undefined;
  /** Results of client tools, stored in the session before the turn (a session turn without `message`). */
  toolResults?: ChatMessage[] | undefined;
  attachments?: readonly Attachment[] | undefined;
  clientTools?: readonly ClientTool[] | undefined;
  settings?: ModelSettings | undefined;
  toolChoice?: ToolChoice | undefined;
  /** The stored session to answer in (created if the id is new); omitted starts a new one. */
  sessionId?: string | undefined;
  /** Instead of a stored session: the history to answer from. Nothing but the run is stored. */
  history?: ChatMessage[] | undefined;
  /** Cancels the run when it fires (a client that hangs up with `on_disconnect: "cancel"`). */
  signal?: AbortSignal | undefined;
  log?: RunLogger | undefined;
}

export interface RunHandle {
  readonly id: string;
  /** null for a run without a stored session. */
  readonly sessionId: string | null;
  /** Resolves once the run has ended and its record is final. */
  readonly done: Promise<void>;
  /** The run's events after `after`, live, ending with `end`. */
  follow(after: number, signal: AbortSignal): AsyncGenerator<SeqEvent>;
}

export interface RunServiceOptions {
  /** A crashed process's runs and session claims lapse after this; live runs renew well before. */
  leaseMs?: number;
  renewMs?: number;
  /** How often this process looks for cancel requests made on other processes. */
  cancelPollMs?: number;
  /** How often this process looks for runs whose process died. */
  sweepMs?: number;
  pruneMs?: number;
  /** How long a finished run's events stay readable. */
  eventsTtlMs?: number;
  /** How often a follower of a run on another process looks for new events. */
  followPollMs?: number;
  /** Told of every run of this process: its start, events and end (metrics). */
  observer?: RunObserver | undefined;
  /** Asked before a run starts, before anything is stored or the model called; throws a RunError to refuse it (token budgets). */
  admit?: ((owner: string) => Promise<void>) | undefined;
}

/** Why this process stopped a run; the run's error code, and the status it ends in. */
class RunStop {
  constructor(
    readonly code: Extract<ErrorCode, 'cancelled' | 'interrupted' | 'shutting_down'>,
    readonly message: string = errorRegistry[code].message,
  ) {}
}

interface LocalRun {
  id: string;
  agent: Agent;
  owner: string;
  sessionId: string | null;
  controller: AbortController;
  log: LiveLog;
  done: Promise<void>;
}

const TITLE_LENGTH = 80;
const ZERO_USAGE: Usage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
const addUsage = (a: Usage, b: Usage): Usage => ({
  input_tokens: a.input_tokens + b.input_tokens,
  output_tokens: a.output_tokens + b.output_tokens,
  total_tokens: a.total_tokens + b.total_tokens,
});
/**
 * Events read from the store per query. Small, because a reader that has stopped reading holds its
 * page while it waits: a page of large events must not make a stalled reader expensive.
 */
const PAGE = 16;
/** And at most about this many bytes of them held (the rest is read again): a stalled reader of large events holds one or two. */
const PAGE_BYTES = 64 * 1024;

/**
 * A run that ended here stays in memory this long (and all of them within RECENT_BYTES), so the
 * readers that join just after the end (a page reloaded, the other tabs) share its newest events,
 * the `end` with the whole reply among them, instead of each reading its own copy from the store.
 */
const RECENT_MS = 30_000;
const RECENT_BYTES = 16 * 1024 * 1024;

/** The first events of a page, up to about `bytes` of JSON (always at least one). */
function keepWithin(rows: SeqEvent[], bytes: number): SeqEvent[] {
  let total = 0;
  for (let i = 0; i < rows.length; i++) {
    total += rows[i]!.json?.length ?? 0;
    if (total > bytes && i > 0) return rows.slice(0, i);
  }
  return rows;
}
/** After a run turns final, how long a follower elsewhere waits for its `end` to be written. */
const END_GRACE_MS = 3000;

const isFinal = (status: RunStatus) => FINAL_STATUSES.includes(status);

/**
 * A run's life: claim the session (a fenced lease), run the agent in the background, number and
 * log every event, persist messages as they complete, record the outcome. Any process sharing the
 * database can follow a run's events, resume them after a given seq, or cancel it; a run whose
 * process died is marked `interrupted` once its lease runs out. Knows nothing of HTTP.
 */
export class RunService {
  private readonly local = new Map<string, LocalRun>();
  /** Runs that ended here lately, oldest first (see RECENT_MS). */
  private readonly recent = new Map<string, { run: LocalRun; until: number; bytes: number }>();
  private recentBytes = 0;
  private readonly readBack: ReadBack;
  readonly agents: AgentSet;
  private readonly idleWaiters: Array<() => void> = [];
  private readonly timer: NodeJS.Timeout;
  private readonly o: Required<Omit<RunServiceOptions, 'observer' | 'admit'>>;
  private readonly observer: RunObserver | undefined;
  private readonly admit: ((owner: string) => Promise<void>) | undefined;
  private lastRenew = Date.now();
  private lastSweep = 0;
  private lastPrune = 0;
  private ticking = false;
  private readonly signals: RunSignals | undefined;
  private readonly unsubscribe: () => void = () => {};

  constructor(
    agents: Agent | AgentSet,
    private readonly store: Storage,
    private readonly logger: RunLogger,
    options: RunServiceOptions = {},
  ) {
    this.agents = agents instanceof AgentSet ? agents : AgentSet.of(agents);
    const { observer, admit, ...timing } = options;
    this.observer = observer;
    this.admit = admit;
    this.o = {
      leaseMs: 15_000,
      renewMs: 5_000,
      cancelPollMs: 250,
      sweepMs: 5_000,
      pruneMs: 60_000,
      eventsTtlMs: 600_000,
      followPollMs: 100,
      ...timing,
    };
    this.readBack = new ReadBack(store);
    this.timer = setInterval(() => void this.tick(), this.o.cancelPollMs);
    this.timer.unref();
    this.signals = hasRunSignals(store) ? store : undefined;
    if (this.signals) this.unsubscribe = this.signals.onCancel((id) => this.local.get(id)?.controller.abort(new RunStop('cancelled')));
  }

  /** The named agent, if it can take this request; otherwise the RunError that says why not. */
  private pick(name: string, req: RunRequest, missing?: string): Agent {
    const agent = this.agents.get(name);
    if (!agent) throw new RunError('model_not_found', missing ?? `No agent or model '${name}': GET /v1/models lists them (${this.agents.names.join(', ')})`);
    const reason = agent.notReadyReason();
    if (reason) throw new RunError('model_not_configured', reason);
    const refused = req.attachments?.find((a) => !(agent.accepts ?? []).includes(a.kind));
    if (refused) {
      const what = refused.kind === 'image' ? 'images are' : 'files are';
      const field = refused.field ?? 'attachments';
      throw new RunError('validation_error', `Invalid request: ${field}: ${what} not supported by this model (agent '${name}')`, [
        { field, message: `${what} not supported by this model (${refused.mediaType})` },
      ]);
    }
    return agent;
  }

  /**
   * The agent of a stored session: the one it was started with (null: the default). A request that
   * names another is refused; one that names none gets the session's.
   */
  private sessionAgent(sessionId: string, owned: string | null, requested: string, req: RunRequest): Agent | undefined {
    const name = owned ?? this.agents.defaultName;
    if (name === requested) return undefined;
    if (req.agent !== undefined) {
      throw new RunError(
        'session_agent_mismatch',
        `Session '${sessionId}' belongs to agent '${name}', not '${requested}': send agent '${name}' (or none) to continue it, or start a new session for '${requested}'`,
        { session_agent: name, agent: requested },
      );
    }
    return this.pick(name, req, `Session '${sessionId}' belongs to agent '${name}', which this server no longer serves (${this.agents.names.join(', ')})`);
  }

  /** The name of the agent that answered a run: its session's (runs without a session: the default). */
  async agentOfRun(run: { session_id: string | null }, owner: string): Promise<string> {
    if (run.session_id === null) return this.agents.defaultName;
    const session = await this.store.getSession(run.session_id, owner);
    return session?.agent ?? this.agents.defaultName;
  }

  /** Checks everything that can refuse a run (so those are plain 4xx/5xx answers), then starts it. */
  async start(req: RunRequest): Promise<RunHandle> {
    if (this.admit) await this.admit(req.owner);
    const name = req.agent ?? this.agents.defaultName;
    // A stored session named without an agent may be another agent's: the default is checked once that is known.
    const later = req.agent === undefined && req.history === undefined && req.sessionId !== undefined;
    let agent = later ? this.agents.default : this.pick(name, req);
    const attachments = req.attachments?.map(({ kind, mediaType, data, filename }) => ({ kind, mediaType, data, ...(filename ? { filename } : {}) }));
    const userMessage: ChatMessage[] =
      req.message === undefined ? [] : [{ role: 'user', content: req.message, ...(attachments?.length ? { attachments } : {}) }];
    const id = `run_${uuidv7().replaceAll('-', '')}`;
    const now = Date.now();
    let sessionId: string | null = null;
    const iso = new Date(now).toISOString();
    const newRun: NewRun = { id, session_id: null, owner: req.owner, status: 'running', created_at: iso, started_at: iso, lease_until: now + this.o.leaseMs };
    let history: ChatMessage[];
    if (req.history) {
      history = req.history.slice(-Math.max(agent.historyWindow, 0));
      await this.store.createRun(newRun);
    } else {
      const sid = (sessionId = req.sessionId ?? uuidv7());
      // Open the session, claim it, create the run and store the message: one commit where the store can.
      const started = await this.atomically(async (s) => {
        // A server of one agent records none, so its sessions go on under whatever agent it serves next.
        const recorded = this.agents.names.length > 1 ? name : null;
        const session = await s.openSession(sid, req.owner, (req.message ?? '').slice(0, TITLE_LENGTH), recorded);
        const switched = this.sessionAgent(sid, session.agent, name, req);
        agent = switched ?? (later ? this.pick(name, req) : agent);
        if (!(await s.claimSession(sid, req.owner, id, now + this.o.leaseMs))) return undefined;
        if (req.regenerate && !(await s.supersedeAnswer(sid, req.owner))) {
          await s.releaseSession(sid, req.owner, id); // undone anyway in a transaction; not without one
          throw new RunError('validation_error', `Invalid request: regenerate: session '${sid}' has no user message to answer again`, [
            { field: 'regenerate', message: 'the session has no user message to answer again' },
          ]);
        }
        await s.createRun({ ...newRun, session_id: sid });
        const results = req.toolResults ?? [];
        if (results.length > 0) await s.appendMessages(sid, req.owner, results);
        const earlier = await s.recentMessages(sid, req.owner, agent.historyWindow);
        await s.appendMessages(sid, req.owner, userMessage);
        return earlier;
      });
      if (!started) {
        const claim = await this.store.sessionClaim(sid, req.owner);
        const other = claim?.token ?? null;
        throw new RunError(
          'session_busy',
          other ? `This session is answering another message (run ${other}); retry when that run has finished` : undefined,
          { active_run_id: other },
          1,
        );
      }
      history = started;
    }
    const controller = new AbortController();
    const run: LocalRun = { id, agent, owner: req.owner, sessionId, controller, log: new LiveLog(id, this.store), done: Promise.resolve() };
    this.local.set(id, run);
    const onClientGone = () => controller.abort(new RunStop('cancelled', 'The client disconnected'));
    if (req.signal?.aborted) onClientGone();
    else req.signal?.addEventListener('abort', onClientGone, { once: true });
    const watch = this.observer?.onRunStart(agent, { id, sessionId, message: req.message });
    const work = () => this.execute(run, req, history, onClientGone, watch);
    run.done = this.observer?.around ? this.observer.around(watch, work) : work();
    return {
      id,
      sessionId,
      done: run.done,
      follow: (after, signal) => this.followFrom(id, req.owner, after, signal),
    };
  }

  async get(runId: string, owner: string): Promise<Run> {
    const record = await this.store.getRun(runId, owner);
    if (!record) throw new RunError('run_not_found', `No run '${runId}'`);
    return runJson(record);
  }

  async list(sessionId: string, owner: string, page: { limit: number; before?: string | undefined }): Promise<RunRecord[]> {
    if (!(await this.store.getSession(sessionId, owner))) throw new RunError('session_not_found', `No session '${sessionId}'`);
    return this.store.listRuns(sessionId, owner, page);
  }

  /**
   * Stops the run wherever it runs: here at once, elsewhere within `cancelPollMs`. Idempotent:
   * `ended` is true when the run had already ended, and nothing changes then.
   */
  async cancel(runId: string, owner: string): Promise<{ run: Run; ended: boolean }> {
    const record = await this.store.getRun(runId, owner);
    if (!record) throw new RunError('run_not_found', `No run '${runId}'`);
    if (isFinal(record.status)) return { run: runJson(record), ended: true };
    const local = this.local.get(runId);
    if (local) local.controller.abort(new RunStop('cancelled'));
    else {
      await this.store.requestCancel(runId, owner);
      await this.signals?.publishCancel(runId);
    }
    return { run: runJson(record), ended: false };
  }

  /** The run's events after `after`; refuses up front (404, 410) so those are plain answers. */
  async follow(runId: string, owner: string, after: number, signal: AbortSignal): Promise<AsyncGenerator<SeqEvent>> {
    // Running here or ended here lately: its events are in memory (and not pruned yet).
    if (this.inMemory(runId)?.owner === owner) return this.followFrom(runId, owner, after, signal);
    const record = await this.store.getRunState(runId, owner);
    if (!record) throw new RunError('run_not_found', `No run '${runId}'`);
    if (record.events_pruned)
      throw new RunError(
        'run_events_expired',
        `The events of run '${runId}' are no longer kept (they are kept ${Math.round(this.o.eventsTtlMs / 1000)} s after a run ends)`,
      );
    return this.followFrom(runId, owner, after, signal);
  }

  /** The run answering in the session now, or null (a DELETE holding the slot is not a run). */
  async activeRun(sessionId: string, owner: string): Promise<string | null> {
    const session = await this.store.getSession(sessionId, owner);
    if (!session) throw new RunError('session_not_found', `No session '${sessionId}'`);
    return session.active_run_id?.startsWith('run_') ? session.active_run_id : null;
  }

  /** Runs still going in this process, including those whose client hung up. */
  get activeRuns(): number {
    return this.local.size;
  }

  whenIdle(): Promise<void> {
    return this.local.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Ends every run of this process early (the shutdown grace period is over). */
  abortAll(): void {
    for (const run of this.local.values()) run.controller.abort(new RunStop('shutting_down'));
  }

  /** Stops the background work; call once no run is left. */
  close(): void {
    clearInterval(this.timer);
    this.unsubscribe();
  }

  /** The run, running here or ended here lately. */
  private inMemory(runId: string): LocalRun | undefined {
    const recent = this.recent.get(runId);
    return this.local.get(runId) ?? (recent && recent.until > Date.now() ? recent.run : undefined);
  }

  private async *followFrom(runId: string, owner: string, after: number, signal: AbortSignal): AsyncGenerator<SeqEvent> {
    let cursor = after;
    let finalSince: number | undefined;
    // Kept once found, even after the run ends here: its newest events (the `end` with the whole
    // reply among them) stay shared by every reader in this process instead of read once per reader.
    let live: LocalRun | undefined;
    while (!signal.aborted) {
      live ??= this.inMemory(runId);
      if (live?.owner !== owner) live = undefined;
      if (live && cursor + 1 >= live.log.firstInMemory) {
        for (const entry of live.log.since(cursor)) {
          yield entry;
          cursor = entry.seq;
          if (entry.event.type === 'end') return;
        }
        if (live.log.finished && cursor >= live.log.lastSeq) return;
        await live.log.wait(cursor, signal);
        continue;
      }
      // Up to what memory has, when it has the rest: the newest events (a long `end`) are not read again.
      const limit = live ? Math.min(PAGE, live.log.firstInMemory - 1 - cursor) : PAGE;
      const rows = keepWithin(await this.readBack.read(runId, cursor, limit), PAGE_BYTES);
      for (const row of rows) {
        yield row;
        cursor = row.seq;
        if (row.event.type === 'end') return;
      }
      if (rows.length > 0) continue;
      if (live) return; // what memory does not have is gone from the store too (pruned): nothing more to send
      const record = await this.store.getRunState(runId, owner);
      if (!record) return;
      if (isFinal(record.status)) {
        // Asked for events after the last one of a finished run: there is nothing more to send.
        const last = await this.store.lastRunEventSeq(runId);
        if (cursor >= last && last > 0) {
          const [tail] = await this.store.readRunEvents(runId, last - 1, 1);
          if (tail && (JSON.parse(tail.data) as StreamEvent).type === 'end') return;
        }
        // Its `end` is written right after the final status; past the grace, nobody will write it.
        finalSince ??= Date.now();
        if (Date.now() - finalSince > END_GRACE_MS) return;
      } else if (!this.local.has(runId) && record.lease_until !== null && record.lease_until < Date.now()) {
        await this.sweep(record);
        continue;
      }
      if (this.signals) await this.signals.waitForEvents(runId, cursor, 1000, signal);
      else await sleep(this.o.followPollMs, signal);
    }
  }

  /** Several store calls as one transaction where the store offers it, else one by one. */
  private atomically<T>(work: (storage: Storage) => Promise<T>): Promise<T> {
    return this.store.atomically ? this.store.atomically(work) : work(this.store);
  }

  /** Runs the agent, then records how the run ended (record). */
  private async execute(run: LocalRun, req: RunRequest, history: ChatMessage[], onClientGone: () => void, watch: unknown): Promise<void> {
    const { store, observer } = this;
    const { agent, log, sessionId, controller } = run;
    const logger = req.log ?? this.logger;
    const transcript = new Transcript();
    let calls: Map<string, RunRecord['tool_calls'][number]> | undefined; // made at the first tool call
    let usage: Usage | null = null;
    // What the model calls so far used, for the ledger when the run fails or is cancelled before its `finish`.
    let spent = ZERO_USAGE;
    let status: RunOutcome['status'] = 'completed';
    let error: RunRecord['error'] = null;
    let finishReason: FinishReason = 'stop';
    log.append({ type: 'start', session_id: sessionId ?? '', run_id: run.id });
    let last: ChatMessage[];
    try {
      const input = {
        history,
        message: req.message,
        clientTools: req.clientTools,
        settings: req.settings,
        toolChoice: req.toolChoice,
        attachments: req.attachments,
        signal: controller.signal,
      };
      for await (const event of agent.run(input)) {
        if (observer) observer.onEvent(watch, event);
        if (event.type === 'step_finish') spent = addUsage(spent, event.usage);
        if (event.type === 'finish') {
          usage = event.usage;
          finishReason = event.finish_reason;
          continue;
        }
        if (event.type === 'tool_call') (calls ??= new Map()).set(event.id, { id: event.id, name: event.name, arguments: event.arguments, result: null });
        else if (event.type === 'tool_result') {
          const call = calls?.get(event.id);
          if (call) call.result = event.result;
        }
        const complete = transcript.add(event);
        if (sessionId && complete.length > 0) await store.appendMessages(sessionId, run.owner, complete);
        log.append(event);
      }
      last = transcript.finish(false);
    } catch (err) {
      last = transcript.finish(true);
      ({ status, error } = this.describeFailure(err, controller.signal, logger));
      finishReason = 'error';
      const retryAfter = err instanceof AgentError ? err.retryAfter : undefined;
      log.append({ type: 'error', code: error.code, message: error.message, ...(retryAfter === undefined ? {} : { retry_after: retryAfter }) });
    }
    observer?.onRunEnd(watch, { status, errorCode: error?.code ?? null, errorMessage: error?.message ?? null, usage, finishReason, reply: transcript.reply });
    // The end is written by another function, returned rather than awaited: a run waiting on its
    // agent holds this frame and its scope, which the recording code would make larger.
    return this.record(run, req, onClientGone, {
      status,
      error,
      reply: transcript.reply,
      tool_calls: calls ? [...calls.values()] : [],
      usage,
      finish_reason: finishReason,
      last,
      spent: usage ?? spent,
    });
  }

  /** Writes the run's outcome and last events, releases its session and forgets the run. */
  private async record(
    run: LocalRun,
    req: RunRequest,
    onClientGone: () => void,
    ending: Omit<RunOutcome, 'finished_at' | 'events_expire_at'> & { last: ChatMessage[]; spent: Usage },
  ): Promise<void> {
    const { log, sessionId } = run;
    const logger = req.log ?? this.logger;
    const { last, spent, ...ended } = ending;
    let released = false;
    try {
      const finishedAt = Date.now();
      const outcome: RunOutcome = { ...ended, finished_at: new Date(finishedAt).toISOString(), events_expire_at: finishedAt + this.o.eventsTtlMs };
      const end: StreamEvent = {
        type: 'end',
        session_id: sessionId ?? '',
        reply: ended.reply,
        usage: ended.usage ?? ZERO_USAGE,
        finish_reason: ended.finish_reason,
      };
      // The last message, the outcome, the log's last events (`end` included) and the session's
      // release are one write where the store can.
      const recorded = await log.close(end, (events) =>
        this.atomically(async (s) => {
          // The session may be gone (deleted meanwhile): the run is still recorded.
          if (sessionId && last.length > 0) {
            await s.appendMessages(sessionId, run.owner, last).catch((e: unknown) => logger.error({ err: e, sessionId }, 'could not save the reply'));
          }
          const ok = await s.finishRun(run.id, outcome, events);
          if (sessionId) await s.releaseSession(sessionId, run.owner, run.id);
          released = true;
          return ok;
        }),
      );
      if (recorded) this.keepRecent(run);
      else logger.warn({ runId: run.id }, 'the run was already marked ended elsewhere (its lease had run out)');
    } catch (err) {
      log.end();
      logger.error({ err, runId: run.id }, 'could not record the end of the run');
    } finally {
      if (sessionId && !released)
        await this.store
          .releaseSession(sessionId, run.owner, run.id)
          .catch((err: unknown) => logger.error({ err, sessionId }, 'could not release the session'));
      // After the end is out, so the ledger costs the turn nothing; before the run is forgotten, so
      // shutdown (whenIdle) waits for it.
      await this.recordUsage(run, spent, logger);
      this.local.delete(run.id);
      if (this.local.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      req.signal?.removeEventListener('abort', onClientGone);
    }
  }

  /** Adds the run's tokens to the usage ledger (and its managed key's total); a failure is logged, never thrown. */
  private async recordUsage(run: LocalRun, spent: Usage, logger: RunLogger): Promise<void> {
    try {
      await this.store.recordUsage({
        run_id: run.id,
        owner: run.owner,
        session_id: run.sessionId,
        agent: run.agent.name,
        model: run.agent.modelName ?? null,
        input_tokens: spent.input_tokens,
        output_tokens: spent.output_tokens,
        created_at: new Date().toISOString(),
      });
    } catch (err) {
      logger.error({ err, runId: run.id }, 'could not record the run in the usage ledger');
    }
  }

  /** Keeps a run that ended here for the readers that join soon after (see RECENT_MS). */
  private keepRecent(run: LocalRun): void {
    const now = Date.now();
    this.forgetRecent(now);
    const bytes = run.log.bytes * 2; // the JSON, and the SSE frame of a large event as much again
    if (bytes > RECENT_BYTES) return;
    this.recent.set(run.id, { run, until: now + Math.min(RECENT_MS, this.o.eventsTtlMs), bytes });
    this.recentBytes += bytes;
    for (const [id, kept] of this.recent) {
      if (this.recentBytes <= RECENT_BYTES) break;
      this.recent.delete(id);
      this.recentBytes -= kept.bytes;
    }
  }

  /** Drops the runs kept past their time (the oldest first, so it stops at the first one still kept). */
  private forgetRecent(now: number): void {
    for (const [id, kept] of this.recent) {
      if (kept.until > now) return;
      this.recent.delete(id);
      this.recentBytes -= kept.bytes;
    }
  }

  private describeFailure(err: unknown, signal: AbortSignal, logger: RunLogger): { status: RunOutcome['status']; error: { code: ErrorCode; message: string } } {
    const stop: unknown = signal.aborted ? signal.reason : undefined;
    if (stop instanceof RunStop) {
      return { status: stop.code === 'cancelled' ? 'cancelled' : 'interrupted', error: { code: stop.code, message: stop.message } };
    }
    if (err instanceof AgentError && err.code !== 'aborted') return { status: 'failed', error: { code: err.code, message: err.message } };
    logger.error({ err }, 'run failed');
    return { status: 'failed', error: { code: 'internal_error', message: errorRegistry.internal_error.message } };
  }

  /** Background work, on one timer: cancels asked for elsewhere, leases, dead runs, old logs. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    const now = Date.now();
    this.forgetRecent(now);
    try {
      const ids = [...this.local.keys()];
      if (ids.length > 0) {
        for (const id of await this.store.cancelRequested(ids)) this.local.get(id)?.controller.abort(new RunStop('cancelled'));
      }
      if (now - this.lastRenew >= this.o.renewMs) {
        this.lastRenew = now;
        await this.renew(ids, now + this.o.leaseMs);
      }
      if (now - this.lastSweep >= this.o.sweepMs) {
        this.lastSweep = now;
        for (const record of await this.store.staleRuns(now, 20)) if (!this.local.has(record.id)) await this.sweep(record);
      }
      if (now - this.lastPrune >= this.o.pruneMs) {
        this.lastPrune = now;
        while ((await this.store.pruneRunEvents(now, 100)) === 100);
      }
    } catch (err) {
      this.logger.warn({ err }, 'run maintenance failed; retrying on the next tick');
    } finally {
      this.ticking = false;
    }
  }

  private async renew(ids: string[], until: number): Promise<void> {
    if (ids.length === 0) return;
    await this.store.renewRuns(ids, until);
    for (const id of ids) {
      const run = this.local.get(id);
      if (!run?.sessionId) continue;
      // Fenced: a run whose claim lapsed (this process stalled) and was taken by another run stops.
      if (!(await this.store.renewSession(run.sessionId, run.owner, id, until)))
        run.controller.abort(new RunStop('interrupted', 'The run lost its claim on the session'));
    }
  }

  /** Ends a run whose process died: `interrupted`, its log closed with `error` + `end`, its session freed. */
  private async sweep(record: RunState): Promise<void> {
    let reply = '';
    const calls = new Map<string, RunRecord['tool_calls'][number]>();
    let after = 0;
    for (;;) {
      const rows = await this.store.readRunEvents(record.id, after, PAGE);
      for (const row of rows) {
        const event = JSON.parse(row.data) as StreamEvent;
        if (event.type === 'token') reply += event.content;
        else if (event.type === 'tool_call') calls.set(event.id, { id: event.id, name: event.name, arguments: event.arguments, result: null });
        else if (event.type === 'tool_result') {
          const call = calls.get(event.id);
          if (call) call.result = event.result;
        }
        after = row.seq;
      }
      if (rows.length < PAGE) break;
    }
    const now = Date.now();
    const error = { code: 'interrupted' as const, message: errorRegistry.interrupted.message };
    // `after` is the last event its process logged: the outcome and the closing events are one write.
    const closing: LoggedEvent[] = [
      { seq: after + 1, data: JSON.stringify({ type: 'error', ...error } satisfies StreamEvent) },
      {
        seq: after + 2,
        data: JSON.stringify({ type: 'end', session_id: record.session_id ?? '', reply, usage: ZERO_USAGE, finish_reason: 'error' } satisfies StreamEvent),
      },
    ];
    const outcome: RunOutcome = {
      status: 'interrupted',
      error,
      reply,
      tool_calls: [...calls.values()],
      usage: null,
      finish_reason: 'error',
      finished_at: new Date(now).toISOString(),
      events_expire_at: now + this.o.eventsTtlMs,
    };
    if (!(await this.store.finishRun(record.id, outcome, closing))) return; // another process swept it first
    if (record.session_id) await this.store.releaseSession(record.session_id, record.owner, record.id);
    this.logger.warn({ runId: record.id, sessionId: record.session_id }, 'run interrupted: the process running it stopped renewing its lease');
  }
}
