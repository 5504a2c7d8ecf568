import type { FastifyInstance } from 'fastify';
import type { Agent } from './agent/agent.js';
import { loadConfig, type Config } from './config.js';
import { createDefaultAgent } from './default-agent.js';
import { buildApp } from './http/app.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { VERSION } from './version.js';

export interface AgentServerOptions {
  /** The agent to serve; default: the configured model with the built-in tools. */
  agent?: Agent;
  /** Default: opened from `config.DATABASE_URL` (and closed with the server). */
  store?: Store;
  /** Default: read from the environment. */
  config?: Config;
  /** Whether to run store migrations when opening the store (default true). */
  migrate?: boolean;
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
}

export async function createAgentServer(options: AgentServerOptions = {}): Promise<AgentServer> {
  const config = options.config ?? loadConfig();
  if (!config.VALID_API_KEYS) throw new Error('VALID_API_KEYS must be set (main.ts generates one when it is not)');
  const store = options.store ?? (await openStore(config.DATABASE_URL, { migrate: options.migrate ?? true }));
  const app = await buildApp({
    agent: options.agent ?? createDefaultAgent(config),
    store,
    apiKeys: config.VALID_API_KEYS,
    corsOrigins: config.CORS_ORIGINS,
    heartbeatMs: config.SSE_HEARTBEAT_MS,
    bodyLimit: config.BODY_LIMIT_BYTES,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    version: VERSION,
    logger: { level: config.LOG_LEVEL },
  });

  let closing: Promise<void> | undefined;
  const close = async () => {
    const grace = setTimeout(() => {
      app.log.warn({ runs: app.turns.activeRuns }, 'shutdown grace period over: ending remaining runs');
      app.turns.abortAll();
      // Whatever still holds a socket a moment later is cut.
      setTimeout(() => app.server.closeAllConnections(), 1000).unref();
    }, config.SHUTDOWN_GRACE_MS);
    try {
      await app.close();
    } finally {
      clearTimeout(grace);
      if (!options.store) await store.close();
    }
  };

  return {
    app,
    config,
    listen: () => app.listen({ host: config.HOST, port: config.PORT }),
    close: () => (closing ??= close()),
  };
}
