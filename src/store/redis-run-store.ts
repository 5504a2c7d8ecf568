import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { ChatMessage } from '../core/messages.js';
import type { SessionSummary } from '../core/sessions.js';
import { BlockingConnections } from './blocking-connections.js';
import type { LoggedEvent, NewRun, RunOutcome, RunRecord, RunSignals, RunState } from './run-store.js';
import type { Database } from './schema.js';
import type { Storage } from './storage.js';
import type { ApiKeyRecord, KeyChanges, NewApiKey } from './key-store.js';
import type { UsageQuery, UsageRecord, UsageRow, UsageTotals } from './usage-store.js';
import type { MessageRecord } from './store.js';
import { abortableSleep as sleep } from '../core/abortable-sleep.js';

/** The SQL store underneath, and the one thing the Redis log needs beyond `Storage`: which runs a prune marked. */
type SqlStorage = Storage & { pruneExpiredRuns(now: number, limit: number): Promise<string[]> };

export interface RedisRunStoreOptions {
  /** Starts every key and channel (default `agent-api:`); deployments sharing one Redis need different ones. */
  keyPrefix?: string;
  /** Most connections blocked waiting for events at once (default 32); waiters beyond them poll. */
  blockingConnections?: number;
}

export const DEFAULT_KEY_PREFIX = 'agent-api:';

/** How often a waiter that found every blocking connection busy looks again (the SQL store's follow poll). */
const POLL_MS = 100;
/** Keys per DEL: one command stays short however many runs a prune or a session delete covers. */
const KEYS_PER_DEL = 500;
/**
 * Redis creates an empty stream only together with a consumer group (XGROUP CREATE … MKSTREAM).
 * The group is never read: the stream existing is what says the run may log (see APPEND_SCRIPT).
 */
const GROUP = 'created';

/**
 * Appends a batch to a run's stream, all or nothing: refused when the stream does not exist (an
 * unknown run, or one whose session was deleted: it must not log into a key nobody expires) or
 * when a seq is not above the last one logged (another process swept the run and wrote its end).
 * Checked before the first XADD, because a script that fails halfway keeps what it wrote.
 * KEYS[1] = the stream; ARGV = seq, data, seq, data, …
 */
const APPEND_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('ERR the run has no log (unknown run, or its session was deleted)')
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local prev = last and tonumber(string.sub(last[1], 3)) or 0
for i = 1, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if not seq or seq <= prev then
    return redis.error_reply('ERR seq ' .. ARGV[i] .. ' is not above the last logged seq ' .. prev)
  end
  prev = seq
end
for i = 1, #ARGV, 2 do
  redis.call('XADD', KEYS[1], '0-' .. ARGV[i], 'd', ARGV[i + 1])
end
return #ARGV / 2
`;
const APPEND_SHA = createHash('sha1').update(APPEND_SCRIPT).digest('hex');

/** Stream ids are `0-<seq>`, so Redis orders, ranges and blocks on our own sequence numbers. */
const streamId = (seq: number) => `0-${seq}`;
const seqOf = (id: string) => Number(id.slice(2));

function toLogged([id, fields]: [string, string[]]): LoggedEvent {
  // One field per entry, `d`, holding the event's JSON.
  return { seq: seqOf(id), data: fields[1] ?? '' };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The SQL store with each run's live log in Redis: a stream per run that followers block on
 * (XREAD), cancels published to every process, and the SQL store for everything else (sessions,
 * messages, the run registry). A run's stream is created with the run, set to expire when the run
 * ends (at its `events_expire_at`), and deleted with its session or when pruned.
 */
export class RedisRunStore implements Storage, RunSignals {
  private readonly prefix: string;
  private readonly cancelChannel: string;
  private readonly blocking: BlockingConnections;
  private readonly cancelListeners = new Set<(runId: string) => void>();

  private constructor(
    private readonly sql: SqlStorage,
    private readonly db: Kysely<Database>,
    /** The command connection (shared with whoever else needs Redis, such as the rate limiter). */
    readonly redis: Redis,
    private readonly subscriber: Redis,
    options: RedisRunStoreOptions,
  ) {
    this.prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.cancelChannel = `${this.prefix}runs:cancel`;
    this.blocking = new BlockingConnections(redis, options.blockingConnections ?? 32, `${this.prefix}wait`);
    subscriber.on('message', (channel: string, runId: string) => {
      if (channel !== this.cancelChannel) return;
      for (const listener of this.cancelListeners) {
        try {
          listener(runId);
        } catch {
          // One listener's failure must not keep the cancel from the others (nor reach ioredis).
        }
      }
    });
  }

  /**
   * Wraps `sql`, keeping run logs on `redis`; `db` is the SQL store's own database, read for the
   * run ids a prune or a session delete covers. Takes over `sql` and `redis` and closes them with
   * itself. Resolves once cancels are subscribed to, so a cancel published after this is never missed.
   */
  static async open(sql: SqlStorage, db: Kysely<Database>, redis: Redis, options: RedisRunStoreOptions = {}): Promise<RedisRunStore> {
    const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    const subscriber = redis.duplicate({ connectionName: `${prefix}cancels`, lazyConnect: false });
    subscriber.on('error', () => {}); // failures reach the subscribe below; ioredis resubscribes after a reconnect
    try {
      await subscriber.subscribe(`${prefix}runs:cancel`);
    } catch (err) {
      subscriber.disconnect();
      throw err;
    }
    return new RedisRunStore(sql, db, redis, subscriber, options);
  }

  /** The key of a run's stream. */
  eventsKey(runId: string): string {
    return `${this.prefix}run:${runId}:events`;
  }

  // Sessions and messages: the SQL store's.

  openSession(id: string, owner: string, title: string, agent?: string | null): Promise<SessionSummary> {
    return this.sql.openSession(id, owner, title, agent);
  }

  getSession(id: string, owner: string): Promise<SessionSummary | undefined> {
    return this.sql.getSession(id, owner);
  }

  listSessions(owner: string, options: { limit: number; before?: string | undefined }): Promise<SessionSummary[]> {
    return this.sql.listSessions(owner, options);
  }

  async deleteSession(id: string, owner: string): Promise<boolean> {
    // Read first: the delete takes the runs with it. No run can start meanwhile (the caller holds
    // the session's claim), and a run still going finds its stream gone and stops logging.
    const runs = await this.db.selectFrom('runs').select('id').where('owner', '=', owner).where('session_id', '=', id).execute();
    if (!(await this.sql.deleteSession(id, owner))) return false;
    await this.deleteLogs(runs.map((r) => r.id));
    return true;
  }

  appendMessages(sessionId: string, owner: string, messages: ChatMessage[]): Promise<void> {
    return this.sql.appendMessages(sessionId, owner, messages);
  }

  recentMessages(sessionId: string, owner: string, limit: number): Promise<ChatMessage[]> {
    return this.sql.recentMessages(sessionId, owner, limit);
  }

  listMessages(sessionId: string, owner: string, options: { after?: number; limit: number }): Promise<MessageRecord[]> {
    return this.sql.listMessages(sessionId, owner, options);
  }

  supersedeAnswer(sessionId: string, owner: string): Promise<boolean> {
    return this.sql.supersedeAnswer(sessionId, owner);
  }

  claimSession(sessionId: string, owner: string, token: string, until: number): Promise<boolean> {
    return this.sql.claimSession(sessionId, owner, token, until);
  }

  renewSession(sessionId: string, owner: string, token: string, until: number): Promise<boolean> {
    return this.sql.renewSession(sessionId, owner, token, until);
  }

  releaseSession(sessionId: string, owner: string, token: string): Promise<void> {
    return this.sql.releaseSession(sessionId, owner, token);
  }

  sessionClaim(sessionId: string, owner: string): Promise<{ token: string; until: number } | undefined> {
    return this.sql.sessionClaim(sessionId, owner);
  }

  // Managed keys and the usage ledger: the SQL store's.

  createKey(key: NewApiKey): Promise<ApiKeyRecord> {
    return this.sql.createKey(key);
  }

  keyByHash(keyHash: string): Promise<ApiKeyRecord | undefined> {
    return this.sql.keyByHash(keyHash);
  }

  getKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.sql.getKey(id);
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return this.sql.listKeys();
  }

  revokeKey(id: string, at: string): Promise<ApiKeyRecord | undefined> {
    return this.sql.revokeKey(id, at);
  }

  updateKey(id: string, changes: KeyChanges): Promise<ApiKeyRecord | undefined> {
    return this.sql.updateKey(id, changes);
  }

  touchKey(id: string, at: string): Promise<void> {
    return this.sql.touchKey(id, at);
  }

  recordUsage(record: UsageRecord): Promise<void> {
    return this.sql.recordUsage(record);
  }

  usage(query: UsageQuery): Promise<{ rows: UsageRow[]; total: UsageTotals }> {
    return this.sql.usage(query);
  }

  // The run registry: the SQL store's, plus the stream's life (created, expiring).

  async createRun(run: NewRun): Promise<void> {
    await this.sql.createRun(run);
    await this.redis.xgroup('CREATE', this.eventsKey(run.id), GROUP, '$', 'MKSTREAM');
  }

  getRun(id: string, owner: string): Promise<RunRecord | undefined> {
    return this.sql.getRun(id, owner);
  }

  getRunState(id: string, owner: string): Promise<RunState | undefined> {
    return this.sql.getRunState(id, owner);
  }

  listRuns(sessionId: string, owner: string, options: { limit: number; before?: string | undefined }): Promise<RunRecord[]> {
    return this.sql.listRuns(sessionId, owner, options);
  }

  async finishRun(id: string, outcome: RunOutcome, events: readonly LoggedEvent[] = []): Promise<boolean> {
    if (!(await this.sql.finishRun(id, outcome))) return false;
    // The last events follow the record (a reader that sees `end` finds the run finished); XADD keeps the key's expiry.
    await this.appendRunEvents(id, events);
    await this.redis.pexpireat(this.eventsKey(id), Math.floor(outcome.events_expire_at));
    return true;
  }

  renewRuns(ids: readonly string[], until: number): Promise<void> {
    return this.sql.renewRuns(ids, until);
  }

  requestCancel(id: string, owner: string): Promise<boolean> {
    return this.sql.requestCancel(id, owner);
  }

  cancelRequested(ids: readonly string[]): Promise<string[]> {
    return this.sql.cancelRequested(ids);
  }

  staleRuns(now: number, limit: number): Promise<RunRecord[]> {
    return this.sql.staleRuns(now, limit);
  }

  // The log: Redis.

  async appendRunEvents(runId: string, events: readonly LoggedEvent[]): Promise<void> {
    if (events.length === 0) return;
    const args = [this.eventsKey(runId), ...events.flatMap((e) => [String(e.seq), e.data])];
    try {
      await this.redis.evalsha(APPEND_SHA, 1, ...args);
    } catch (err) {
      // Redis forgets scripts on restart; the first call after one sends the text (and caches it again).
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      await this.redis.eval(APPEND_SCRIPT, 1, ...args);
    }
  }

  async readRunEvents(runId: string, after: number, limit: number): Promise<LoggedEvent[]> {
    if (limit <= 0) return [];
    const entries = await this.redis.xrange(this.eventsKey(runId), `(${streamId(after)}`, '+', 'COUNT', limit);
    return entries.map(toLogged);
  }

  async lastRunEventSeq(runId: string): Promise<number> {
    const [last] = await this.redis.xrevrange(this.eventsKey(runId), '+', '-', 'COUNT', 1);
    return last ? seqOf(last[0]) : 0;
  }

  async pruneRunEvents(now: number, limit: number): Promise<number> {
    // The streams usually went at their own expiry (`events_expire_at`); deleting those of the runs
    // the SQL store just marked also covers one whose expiry could not be set.
    const pruned = await this.sql.pruneExpiredRuns(now, limit);
    await this.deleteLogs(pruned);
    return pruned.length;
  }

  // Signals between processes.

  /**
   * Blocks on the run's stream (XREAD BLOCK) on a pooled connection. Aborting resolves at once
   * and unblocks the connection (CLIENT UNBLOCK from the command connection), so it goes back to
   * the pool rather than staying blocked until the timeout. With every pooled connection busy it
   * waits a short poll instead: a spurious early wake-up only makes the caller read again.
   */
  async waitForEvents(runId: string, after: number, timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || timeoutMs <= 0) return;
    const connection = this.blocking.take();
    if (!connection) return sleep(Math.min(timeoutMs, POLL_MS), signal);
    // The id is asked for with each read, not once: a reconnect gives the connection a new one.
    // Both go out together, so this costs no round trip.
    const clientId = connection.client('ID').catch(() => undefined);
    const read = connection.xread('COUNT', 1, 'BLOCK', Math.ceil(timeoutMs), 'STREAMS', this.eventsKey(runId), streamId(after));
    await new Promise<void>((resolve) => {
      const onAbort = () => {
        resolve();
        // If the read was answered meanwhile and the connection already serves another waiter,
        // that waiter wakes early: harmless, it reads and waits again.
        void clientId.then((id) => (id === undefined ? undefined : this.redis.client('UNBLOCK', id))).catch(() => {});
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // A failed read (connection lost, pool closed) wakes the caller like a timeout: it reads the
      // log itself next, and reports what is wrong from there.
      void read
        .catch(() => undefined)
        .then(() => {
          signal.removeEventListener('abort', onAbort);
          this.blocking.give(connection);
          resolve();
        });
    });
  }

  async publishCancel(runId: string): Promise<void> {
    await this.redis.publish(this.cancelChannel, runId);
  }

  onCancel(listener: (runId: string) => void): () => void {
    // A new function per call, so the same listener added twice is removed once per unsubscribe.
    const entry = (runId: string) => listener(runId);
    this.cancelListeners.add(entry);
    return () => this.cancelListeners.delete(entry);
  }

  /** Both the database and Redis must answer; a Redis connection that is down fails at once. */
  async ping(): Promise<void> {
    await this.sql.ping();
    if (this.redis.status !== 'ready') throw new Error(`Redis connection is ${this.redis.status}`);
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.blocking.close();
    this.subscriber.disconnect();
    // QUIT lets commands in flight finish; a connection that is down has nothing to finish.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
    await this.sql.close();
  }

  private async deleteLogs(runIds: readonly string[]): Promise<void> {
    // UNLINK frees the memory in the background: a long stream does not stall Redis.
    for (const part of chunks(runIds, KEYS_PER_DEL)) await this.redis.unlink(...part.map((id) => this.eventsKey(id)));
  }
}
