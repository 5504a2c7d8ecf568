import { randomUUID } from 'node:crypto';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import type { Agent } from '../agent/agent.js';
import { AgentSet } from '../agent/agent-set.js';
import { registerDocs } from './docs.js';
import { clientErrorHandler, cutShortAnswer } from './client-error-handler.js';
import { frameworkErrorHandler, registerErrorHandlers } from './error-handler.js';
import { watchHangUp } from './hang-up-signal.js';
import { LazyChildLogger } from './lazy-child-logger.js';
import { ApiError } from './errors.js';
import { chatRoutes } from './routes/chat.js';
import { openAiRoutes } from './routes/openai.js';
import { responsesRoutes } from './routes/responses.js';
import { healthRoutes } from './routes/health.js';
import { playgroundRoutes } from './routes/playground.js';
import { sessionRoutes } from './routes/sessions.js';
import { uiChatRoutes } from './routes/ui-chat.js';
import { RunService, type RunServiceOptions } from '../runs/run-service.js';
import type { Storage } from '../store/storage.js';
import { runRoutes } from './routes/runs.js';
import { securityHeaders } from './security-headers.js';
import { countRequests } from './metrics/http-metrics.js';
import { Metrics } from './metrics/metrics.js';
import { metricsRoutes } from './metrics/metrics-routes.js';
import { processRegistry } from './metrics/process-registry.js';
import { metricsFromPrimary } from './metrics/cluster-metrics.js';
import { combineObservers } from '../runs/combine-observers.js';
import { runTracer } from './tracing/run-tracer.js';
import { traceRequests } from './tracing/trace-requests.js';
import { KeyAuth } from './key-auth.js';
import type { ApiKeyRecord } from '../store/key-store.js';
import { adminKeyRoutes } from './routes/admin-keys.js';
import { usageRoutes } from './routes/usage.js';
import { answeredError } from './to-api-error.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Routes are authenticated unless they opt out with `config: { public: true }`. */
    public?: boolean;
  }
  interface FastifyRequest {
    /** Opaque id of the caller's API key; the owner of the sessions it creates. */
    owner: string;
    /** Whether the caller used ADMIN_API_KEY. */
    admin: boolean;
    /** The caller's managed key (POST /admin/keys), as read for this request; null for other keys. */
    managedKey: ApiKeyRecord | null;
  }
}

export interface AppOptions {
  /** One agent, or several by name (see AgentSet). */
  agent: Agent | AgentSet;
  store: Storage;
  /** Leases, polling and retention of runs (tests shorten them). */
  runOptions?: RunServiceOptions;
  /** Keys accepted in `X-API-Key`. At least one. */
  apiKeys: readonly string[];
  /** ADMIN_API_KEY: manages keys (`/admin/keys`), sees every key's usage, and is a valid key for every route. */
  adminKey?: string | undefined;
  /** Allowed browser origins, or ['*']. Empty (the default) allows no cross-origin calls. */
  corsOrigins?: readonly string[];
  heartbeatMs?: number;
  bodyLimit?: number;
  /** A request must arrive whole (headers and body) within this, or it is answered 408 and its connection closed (BODY_TIMEOUT_MS). */
  bodyTimeoutMs?: number;
  /** Requests per minute per API key (per client IP before authentication); 0 turns limiting off. */
  rateLimitPerMinute?: number;
  /** Counts rate limits here, shared by every worker and replica using it; without it each worker counts its own. */
  redis?: Redis;
  version?: string;
  logger?: FastifyServerOptions['logger'];
  /** `GET /metrics`: its token (METRICS_TOKEN), and whether to answer for every cluster worker (asking the primary). */
  metrics?: { token?: string | undefined; fromPrimary?: boolean | undefined };
  /**
   * Spans for requests and runs, through the OpenTelemetry API (set when an SDK is started; without
   * it no hook is added). `recordContent`: prompts, replies and tool arguments on the spans.
   */
  tracing?: { recordContent: boolean } | undefined;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const logged = new WeakSet<FastifyRequest>();

/** One line per request; a 5xx is a warning (an internal error also has its own line, with the stack). */
function logRequest(request: FastifyRequest, reply: FastifyReply, status = reply.statusCode): void {
  if (logged.has(request)) return;
  logged.add(request);
  const cut = cutShortAnswer(reply.raw);
  const line = {
    method: request.method,
    path: request.url.split('?')[0],
    status: cut?.status ?? status,
    duration_ms: Math.round(reply.elapsedTime * 100) / 100,
    ...(cut ? { code: cut.code } : answeredError(request)),
  };
  if (status >= 500) request.log.warn(line, 'request');
  else request.log.info(line, 'request');
}

function logHungUp(reply: FastifyReply): void {
  logRequest(reply.request, reply, reply.raw.headersSent ? reply.statusCode : 499);
}

export interface App {
  app: FastifyInstance;
  /** The runs this app started: shutdown waits for them, and ends them when its grace is over. */
  runs: RunService;
}

export async function buildApp(options: AppOptions): Promise<App> {
  const { agent, store, corsOrigins = [], heartbeatMs = 15_000, rateLimitPerMinute = 0, version = '0.0.0' } = options;
  if (options.apiKeys.length === 0) throw new Error('buildApp: apiKeys must list at least one key');
  // Before the app: requests refused before any hook are counted too.
  const metrics = new Metrics();
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000;

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimit ?? 1024 * 1024,
    // A client's id is kept when it is safe to log and echo; otherwise we mint one.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings, childOptions) => new LazyChildLogger(logger, bindings, childOptions),
    forceCloseConnections: 'idle',
    // Fastify's own 503 for requests arriving while closing is outside our error shape and has no
    // x-request-id; the onRequest hook below answers those instead.
    return503OnClosing: false,
    // Session ids may be 128 characters; the default (100) answered longer ones 414 outside our
    // error shape. Over-long params now reach validation (400); beyond this, frameworkErrors.
    routerOptions: { maxParamLength: 1024 },
    frameworkErrors: (error, request, reply) => {
      frameworkErrorHandler(error, request, reply);
      logRequest(request, reply); // no hooks run for these, so the request line and the count are made here
      metrics.request(undefined, request.method, reply.statusCode, reply.elapsedTime / 1000);
    },
    // A body that trickles in or stops must not hold a connection for Node's default 5 minutes (300
    // such connections stayed open 400 s). Node checks every connectionsCheckingInterval (30 s by
    // default, longer than a short timeout), so a request ends within BODY_TIMEOUT_MS and a quarter.
    requestTimeout: bodyTimeoutMs,
    http: {
      requestTimeout: bodyTimeoutMs,
      headersTimeout: Math.min(60_000, bodyTimeoutMs),
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.round(bodyTimeoutMs / 4))),
    },
    clientErrorHandler: clientErrorHandler({ countUnmatched: (status) => metrics.request(undefined, 'unknown', status, 0) }),
  });
  // Bodies are JSON only: without this Fastify parses text/plain into a string (a 400, not a 415).
  app.removeContentTypeParser('text/plain');
  // Many clients send `Content-Type: application/json` on every call; a bodiless DELETE or GET
  // with it is not an error. POST bodies still must be JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' && request.method !== 'POST') done(null, undefined);
    // The default parser is the callback kind; it returns nothing to wait for.
    else void parseJson(request, body as string, done);
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandlers(app);

  // First of the hooks, so requests the others refuse (shutting down, unauthorized) are traced and counted too.
  if (options.tracing) traceRequests(app);
  countRequests(app, metrics);

  app.decorateRequest('owner', '');
  app.decorateRequest('admin', false);
  app.decorateRequest('managedKey', null);
  const keys = new KeyAuth(options.apiKeys, options.adminKey, store, (err) => app.log.error({ err }, "could not record a key's last use"));
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  const security = securityHeaders({
    contentSecurityPolicy: false,
    crossOriginResourcePolicy: { policy: corsOrigins.length ? 'cross-origin' : 'same-origin' },
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // A client that hangs up first never lets the response finish, and Fastify then runs no
    // onResponse hook: its line is written here (499 when it got nothing at all).
    watchHangUp(reply, logHungUp);
    if (closing) throw new ApiError('shutting_down');
    reply.headers(security);
  });
  // One line per request, written when the response is done (for streams: when the stream ends).
  app.addHook('onResponse', async (request, reply) => logRequest(request, reply));

  await app.register(cors, {
    origin: corsOrigins.includes('*') ? '*' : corsOrigins.length ? [...corsOrigins] : false,
    methods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['content-type', 'x-api-key', 'x-request-id', 'authorization', 'x-session-id', 'last-event-id'],
    exposedHeaders: ['x-request-id', 'x-session-id'],
    maxAge: 600,
  });

  // Who is calling is settled first and enforced only after rate limiting, so that requests with
  // a wrong or missing key are limited too (per client address): key guessing is throttled.
  const refusals = new WeakMap<FastifyRequest, string>();
  app.addHook('onRequest', async (request) => {
    // CORS preflights never carry credentials; the CORS plugin answers them.
    if (request.is404 || request.method === 'OPTIONS' || request.routeOptions.config.public) return;
    // `X-API-Key`, or `Authorization: Bearer <key>` as OpenAI clients send it; X-API-Key wins if both.
    const header = request.headers['x-api-key'];
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
    const key = typeof header === 'string' ? header : bearer;
    const caller = await keys.authenticate(key);
    if (caller === 'revoked') refusals.set(request, `The ${header ? 'X-API-Key header' : 'Authorization bearer'} key has been revoked`);
    else if (caller) {
      request.owner = caller.owner;
      request.admin = caller.admin;
      if (caller.managed) request.managedKey = caller.managed;
    } else {
      refusals.set(
        request,
        header
          ? 'The X-API-Key header holds an unknown key'
          : bearer
            ? 'The Authorization bearer key is unknown'
            : 'The X-API-Key header (or Authorization: Bearer <key>) is missing',
      );
    }
  });

  // Registered even when RATE_LIMIT_PER_MINUTE is 0: a managed key may carry its own limit.
  // A key's own limit wins; requests with no limit to apply pass through the allow list.
  const limitOf = (request: FastifyRequest): number => request.managedKey?.rate_limit_per_minute ?? rateLimitPerMinute;
  await app.register(rateLimit, {
    max: limitOf,
    timeWindow: 60_000,
    keyGenerator: (request) => (request.owner ? `key:${request.owner}` : `ip:${request.ip}`),
    onExceeded: () => metrics.rateLimited(),
    allowList: (request) => Boolean(request.routeOptions.config.public) || limitOf(request) === 0,
    errorResponseBuilder: (_request, context) =>
      new ApiError('rate_limited', `Rate limit of ${context.max} requests per minute exceeded; retry in ${Math.ceil(context.ttl / 1000)} s`),
    // While Redis is down requests go unlimited rather than failing: most routes do not need it.
    ...(options.redis ? { redis: options.redis, nameSpace: 'agent-api:rate-limit:', skipOnError: true } : {}),
  });

  // preParsing: after every onRequest hook (the rate limiter's are per route, so they run after
  // the global ones) and before the body is read.
  app.addHook('preParsing', async (request) => {
    const refusal = refusals.get(request);
    if (refusal !== undefined) throw new ApiError('unauthorized', refusal);
  });

  await registerDocs(app, version);

  const agents = agent instanceof AgentSet ? agent : AgentSet.of(agent);
  const observer = options.tracing ? combineObservers(metrics.runObserver, runTracer(options.tracing)) : metrics.runObserver;
  const runs = new RunService(agents, store, app.log, { ...options.runOptions, observer, admit: (owner) => keys.admit(owner) });
  const registries = [processRegistry(), metrics.registry];
  await app.register(metricsRoutes, {
    token: options.metrics?.token,
    gather: options.metrics?.fromPrimary ? metricsFromPrimary(registries) : () => Registry.merge(registries).metrics(),
  });
  await app.register(healthRoutes, { agents, store, version });
  await app.register(chatRoutes, { runs, heartbeatMs });
  await app.register(runRoutes, { runs, heartbeatMs });
  await app.register(openAiRoutes, { agents, runs, heartbeatMs });
  await app.register(responsesRoutes, { agents, runs, heartbeatMs });
  await app.register(sessionRoutes, { store, runs });
  await app.register(uiChatRoutes, { runs, heartbeatMs });
  await app.register(usageRoutes, { store });
  await app.register(adminKeyRoutes, { store, enabled: keys.adminEnabled });
  await app.register(playgroundRoutes);
  return { app, runs };
}
