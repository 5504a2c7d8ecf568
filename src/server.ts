import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Agent } from './agent/agent.js';
import { AgentSet } from './agent/agent-set.js';
import { createFileAgents, defaultFirst, readAgentsFile } from './agents-file.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createDefaultAgent } from './default-agent.js';
import { firstRunKey } from './first-run-key.js';
import { buildApp } from './http/app.js';
import { traceLogFields } from './http/tracing/trace-log-fields.js';
import { AGENT_NAME_PATTERN } from './http/schemas.js';
import { openConfiguredStore } from './open-configured-store.js';
import { openRedis, RedisUnreachableError } from './store/open-redis.js';
import { RedisRunStore } from './store/redis-run-store.js';
import type { Storage } from './store/storage.js';
import { startTracing, type Tracing } from './telemetry/start-tracing.js';
import { keyLines } from './start-banner.js';
import { VERSION } from './version.js';

export interface AgentServerOptions {
  /** The agent to serve; default: AGENTS_FILE's agents, or the configured model with the built-in tools. */
  agent?: Agent;
  /**
   * Several agents by name, instead of `agent`: a request picks one with `agent` (native routes) or
   * `model` (OpenAI routes); `/v1/models` lists them.
   */
  agents?: Readonly<Record<string, Agent>>;
  /** The agent of requests that name none (default: the first of `agents`). */
  defaultAgent?: string;
  /** Default: opened from `config.DATABASE_URL` (and closed with the server). */
  store?: Storage;
  /** Default: read from the environment. */
  config?: Config;
  /** Whether to run store migrations when opening the store (default true). */
  migrate?: boolean;
  /**
   * `/metrics` answers for every worker of the cluster by asking the primary (set by the
   * `agent-api` command's workers, whose primary answers; default false: this process's own).
   */
  metricsFromPrimary?: boolean;
}

export interface AgentServer {
  app: FastifyInstance;
  config: Config;
  /** Starts listening on HOST:PORT; resolves to the base URL. */
  listen(): Promise<string>;
  /**
   * Graceful stop: refuses new connections, lets running requests and streams finish for
   * SHUTDOWN_GRACE_MS, then ends what is left (streams get an `error` event and `end`).
   */
  close(): Promise<void>;
  /** Runs still going, including those whose client hung up (they still save their reply). */
  readonly activeRuns: number;
}

/**
 * Without VALID_API_KEYS, the key kept in DATA_DIR/api-key (generated and written there on the
 * first start), also put in the environment so forked workers share it. Returns the keys in force.
 * The `agent-api` command settles the key itself, for its start banner; an embedding app is told here.
 */
export function ensureApiKeys(config: Config): string[] {
  const origin = firstRunKey(config);
  if (origin.kind !== 'configured') process.stderr.write(`${keyLines(origin).join('\n')}\n`);
  return config.VALID_API_KEYS ?? [];
}

/** An unreachable REDIS_URL is an environment problem: reported like a bad setting, without a stack. */
async function openRedisOrFail<T>(open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    throw err instanceof RedisUnreachableError ? new ConfigError(err.message, { cause: err }) : err;
  }
}

/** What the server serves: the agents passed in, else AGENTS_FILE's, else the default agent. */
function agentsToServe(options: AgentServerOptions, config: Config): Agent | AgentSet {
  if (options.agent && options.agents) throw new TypeError('createAgentServer: pass `agent` or `agents`, not both');
  if (options.agents) {
    const bad = Object.keys(options.agents).find((name) => !AGENT_NAME_PATTERN.test(name));
    if (bad !== undefined) throw new TypeError(`createAgentServer: agent name '${bad}' must be 1 to 64 letters, digits and . _ -`);
    return new AgentSet(defaultFirst(options.agents, options.defaultAgent), options.defaultAgent);
  }
  if (options.agent) return options.agent;
  if (config.AGENTS_FILE) return createFileAgents(config, readAgentsFile(config.AGENTS_FILE));
  return createDefaultAgent(config);
}

/** The trace SDK, when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set. */
function startConfiguredTracing(config: Config): Tracing | undefined {
  return startTracing({
    endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    tracesEndpoint: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    protocol: config.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? config.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: config.OTEL_EXPORTER_OTLP_HEADERS,
    serviceName: config.OTEL_SERVICE_NAME,
    serviceVersion: VERSION,
    resourceAttributes: config.OTEL_RESOURCE_ATTRIBUTES,
    disabled: config.OTEL_SDK_DISABLED,
  });
}

export async function createAgentServer(options: AgentServerOptions = {}): Promise<AgentServer> {
  const config = options.config ?? loadConfig();
  // Before the store opens: a bad AGENTS_FILE or agent name stops the start with nothing to close.
  const agent = agentsToServe(options, config);
  // Before the app is built, so its first requests are traced; stopped last, after the runs' spans have ended.
  const tracing = startConfiguredTracing(config);
  try {
    return await serve(options, config, agent, tracing);
  } catch (err) {
    await tracing?.shutdown();
    throw err;
  }
}

async function serve(options: AgentServerOptions, config: Config, agent: Agent | AgentSet, tracing: Tracing | undefined): Promise<AgentServer> {
  const store = options.store ?? (await openConfiguredStore(config, { migrate: options.migrate ?? true }));
  // Rate limits count in Redis when there is one: on the store's connection, or on one of our own
  // beside a store passed in (closed with the server).
  const redisUrl = config.REDIS_URL;
  const ownRedis =
    redisUrl !== undefined && !(store instanceof RedisRunStore)
      ? await openRedisOrFail(() => openRedis(redisUrl, { connectionName: 'agent-api:rate-limit' }))
      : undefined;
  const redis = store instanceof RedisRunStore ? store.redis : ownRedis;
  const { app, runs } = await buildApp({
    agent,
    store,
    apiKeys: ensureApiKeys(config),
    adminKey: config.ADMIN_API_KEY,
    corsOrigins: config.CORS_ORIGINS,
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    bodyLimit: config.BODY_LIMIT_BYTES,
    bodyTimeoutMs: config.BODY_TIMEOUT_MS,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    ...(redis ? { redis } : {}),
    runOptions: {
      eventsTtlMs: config.RUN_EVENTS_TTL_S * 1000,
      leaseMs: config.RUN_LEASE_MS,
      renewMs: Math.round(config.RUN_LEASE_MS / 3),
      sweepMs: Math.round(config.RUN_LEASE_MS / 3),
      // Expired logs go within half their TTL (at most a minute late), so storage stays bounded.
      pruneMs: Math.min(60_000, Math.max(1000, (config.RUN_EVENTS_TTL_S * 1000) / 2)),
    },
    version: VERSION,
    logger: { level: config.LOG_LEVEL, ...(tracing ? { mixin: traceLogFields } : {}) },
    metrics: { token: config.METRICS_TOKEN, fromPrimary: options.metricsFromPrimary },
    tracing: tracing && { recordContent: config.OTEL_RECORD_CONTENT },
  });

  const sockets = new Set<Socket>();
  const usedSockets = new WeakSet<Socket>();
  // One function for every socket ('close' comes once): a closure per connection would be held as
  // long as the connection, an open stream's included.
  const forget = function (this: Socket) {
    sockets.delete(this);
  };
  app.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', forget);
  });
  app.server.on('request', (request: IncomingMessage) => usedSockets.add(request.socket));

  let closing: Promise<void> | undefined;
  const close = async () => {
    let giveUp!: () => void;
    const gaveUp = new Promise<void>((resolve) => (giveUp = resolve));
    const grace = setTimeout(() => {
      app.log.warn({ runs: runs.activeRuns }, 'shutdown grace period over: ending remaining runs');
      runs.abortAll();
      // Whatever still holds a socket (or a run, in a tool that ignores the abort) a moment later is cut.
      setTimeout(() => {
        app.server.closeAllConnections();
        giveUp();
      }, 1000).unref();
    }, config.SHUTDOWN_GRACE_MS);
    // A keep-alive connection goes idle when its last response ends; Node closes idle connections
    // only once, when close() starts, so without this sweep a finished stream's socket would hold
    // app.close() (and the process) until the grace period is over. Connections that never sent a
    // request (fetch and browsers pre-connect) are not "idle" to Node, so they are cut here too.
    const sweep = setInterval(() => {
      app.server.closeIdleConnections();
      for (const socket of sockets) if (!usedSockets.has(socket)) socket.destroy();
    }, 100);
    try {
      await app.close();
      // A run whose client hung up has no response left to wait for, but it still saves its reply
      // and releases its session: the store must stay open until it has.
      await Promise.race([runs.whenIdle(), gaveUp]);
    } finally {
      clearInterval(sweep);
      clearTimeout(grace);
      runs.close();
      if (!options.store) await store.close();
      ownRedis?.disconnect();
      // The last spans (the runs just ended) go out before the process may exit.
      await tracing?.shutdown().catch((err: unknown) => app.log.warn({ err }, 'could not export the last traces'));
    }
  };

  return {
    app,
    config,
    listen: () => app.listen({ host: config.HOST, port: config.PORT }),
    close: () => (closing ??= close()),
    get activeRuns() {
      return runs.activeRuns;
    },
  };
}
