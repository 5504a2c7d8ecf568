import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseEnv } from 'node:util';
import { z } from 'zod';
import { CHAT_MODEL_PROVIDERS } from './agent/chat-model.js';
import { parseDatabaseUrl } from './store/database-url.js';

/** Raised at start-up for a bad environment; the message names the variable so operators can fix it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const intIn = (min: number, max: number) =>
  z.string().trim().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const list = z.string().transform((s) =>
  s
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0),
);

/** true/false in any case, as the OpenTelemetry variables are read. */
const flag = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false'], { error: 'must be true or false' }))
  .transform((v) => v === 'true');

/** The OTLP transports we export over; gRPC would need a package (and HTTP/2 client) we do not ship. */
const otlpProtocol = z
  .string()
  .trim()
  .refine((p) => p !== 'grpc', "grpc is not supported: use http/protobuf (the default) or http/json, the collector's port 4318")
  .pipe(z.enum(['http/protobuf', 'http/json'], { error: 'must be http/protobuf or http/json' }));
/** A browser origin as the Origin header carries it: http(s)://host[:port], nothing after. */
function isOrigin(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const schema = z.object({
  PORT: intIn(0, 65535).default(8000),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  VALID_API_KEYS: list.optional(),
  CORS_ORIGINS: list
    .superRefine((origins, ctx) => {
      const bad = origins.find((o) => o !== '*' && !isOrigin(o));
      if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `'${bad}' is not an origin (scheme://host[:port], no path, or *)` });
    })
    .default([]),
  LLM_PROVIDER: z.enum(CHAT_MODEL_PROVIDERS, { error: `must be one of ${CHAT_MODEL_PROVIDERS.join(', ')}` }).default('openai-compatible'),
  LLM_BASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  LLM_API_KEY: z.string().optional(),
  LLM_MODEL: z.string().trim().min(1).optional(),
  LLM_TIMEOUT_MS: intIn(1, 3_600_000).default(60_000),
  LLM_MAX_RETRIES: intIn(0, 10).default(2),
  AGENT_INSTRUCTIONS: z.string().optional(),
  AGENT_MAX_STEPS: intIn(1, 100).default(8),
  AGENT_HISTORY_MESSAGES: intIn(0, 100_000).default(50),
  AGENTS_FILE: z.string().trim().min(1).optional(),
  DATABASE_URL: z
    .string()
    .trim()
    .refine((u) => parseDatabaseUrl(u) !== undefined, 'must be sqlite:PATH, sqlite::memory: or postgres://…')
    .default('sqlite:./data/agent-api.db'),
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })
    .refine((u) => !URL.canParse(u) || new URL(u).hostname !== '', 'must name a host (redis://host:6379)')
    .optional(),
  WORKERS: z
    .string()
    .trim()
    .transform((s, ctx) => {
      if (s === 'auto') return os.availableParallelism();
      const n = /^\d+$/.test(s) ? Number(s) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 256) {
        ctx.addIssue({ code: 'custom', message: 'must be a whole number from 1 to 256, or "auto"' });
        return z.NEVER;
      }
      return n;
    })
    .default(1),
  SSE_HEARTBEAT_MS: intIn(10, 3_600_000).default(15_000),
  SHUTDOWN_GRACE_MS: intIn(0, 3_600_000).default(10_000),
  RATE_LIMIT_PER_MINUTE: intIn(0, 1_000_000).default(0),
  BODY_LIMIT_BYTES: intIn(1024, 100 * 1024 * 1024).default(1024 * 1024),
  RUN_EVENTS_TTL_S: intIn(1, 30 * 24 * 3600).default(600),
  RUN_LEASE_MS: intIn(1000, 3_600_000).default(15_000),
  METRICS_TOKEN: z.string().trim().min(1).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL (the collector, e.g. http://localhost:4318)' }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL (e.g. http://localhost:4318/v1/traces)' }).optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.default('http/protobuf'),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  OTEL_EXPORTER_OTLP_HEADERS: z.string().optional(),
  OTEL_SERVICE_NAME: z.string().trim().min(1).optional(),
  OTEL_RESOURCE_ATTRIBUTES: z.string().optional(),
  OTEL_SDK_DISABLED: flag.default(false),
  OTEL_RECORD_CONTENT: flag.default(false),
  ADMIN_API_KEY: z.string().trim().min(16, 'must be at least 16 characters (generate one: openssl rand -base64 24)').optional(),
  BODY_TIMEOUT_MS: intIn(100, 3_600_000).default(30_000),
  DATA_DIR: z.string().trim().min(1).default('./data'),
});

export type Config = z.output<typeof schema>;
export type Env = Record<string, string | undefined>;

/** Every environment variable the configuration reads (the deploy files are checked against it). */
export const SETTING_NAMES: readonly string[] = Object.keys(schema.shape);

/** Empty strings count as unset, as in most `.env` tooling. */
function withoutBlanks(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = env[key];
    if (v !== undefined && v.trim() !== '') out[key] = v;
  }
  return out;
}

export function loadConfig(env: Env = process.env): Config {
  const parsed = schema.safeParse(withoutBlanks(env));
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  if (config.VALID_API_KEYS?.length === 0) {
    throw new ConfigError('Invalid configuration:\n  VALID_API_KEYS: lists no key (comma-separated keys expected)');
  }
  if (config.ADMIN_API_KEY !== undefined && config.VALID_API_KEYS?.includes(config.ADMIN_API_KEY)) {
    throw new ConfigError('Invalid configuration:\n  ADMIN_API_KEY: is also in VALID_API_KEYS; the admin key must be a key of its own');
  }
  // Half a model setting is a mistake, not an unconfigured start (AGENTS_FILE's agents name their own models).
  if (config.LLM_BASE_URL && !config.LLM_MODEL && !config.AGENTS_FILE) {
    throw new ConfigError(
      'Invalid configuration:\n  LLM_MODEL: must be set when LLM_BASE_URL is (the model name at that endpoint, e.g. gpt-4o-mini or qwen2.5)',
    );
  }
  const location = parseDatabaseUrl(config.DATABASE_URL);
  if (config.WORKERS > 1 && location?.kind === 'sqlite' && location.path === ':memory:') {
    throw new ConfigError(
      'Invalid configuration:\n  DATABASE_URL: sqlite::memory: is private to each process, so it cannot be shared by WORKERS > 1 (use sqlite:PATH or postgres://…)',
    );
  }
  return config;
}

/**
 * Reads `.env` from the working directory if present; real environment variables win, except
 * empty ones, which count as unset here too (process.loadEnvFile would keep them and hide the file's value).
 */
export function loadDotEnv(path = '.env'): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (!process.env[key]?.trim()) process.env[key] = value;
  }
}
