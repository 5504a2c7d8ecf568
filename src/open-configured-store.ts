import { ConfigError, type Config } from './config.js';
import { parseDatabaseUrl } from './store/database-url.js';
import { RedisUnreachableError } from './store/open-redis.js';
import { openStore } from './store/open-store.js';
import type { Storage } from './store/storage.js';

/** Postgres SQLSTATEs that mean the server is there but will not have us: connection, authorization, no such database, starting up, full. */
const REFUSED_STATES = /^(08|28)|^(3D000|57P03|53300)$/;

/** Errors of the database's reachability (network, permissions, login), as opposed to a bug in our own SQL. */
function isUnreachable(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  const { code, syscall } = err as Error & { code?: unknown; syscall?: unknown };
  // A Node system error (ECONNREFUSED, ENOTFOUND, EACCES…), also when connecting to every address of a host failed at once.
  if (typeof syscall === 'string' || (typeof code === 'string' && /^E[A-Z]+$/.test(code))) return true;
  return typeof code === 'string' && (REFUSED_STATES.test(code) || /^SQLITE_(CANTOPEN|PERM|READONLY|NOTADB)/.test(code));
}

/** What could not be done with DATABASE_URL, naming where it points but not its password. */
function failedTo(databaseUrl: string): string {
  const location = parseDatabaseUrl(databaseUrl);
  if (location?.kind !== 'postgres') return `cannot open ${databaseUrl}`;
  const url = new URL(location.url);
  return `cannot connect to Postgres at ${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname}`;
}

function reasonOf(err: Error): string {
  // Node's AggregateError for a host with several addresses has no message of its own.
  if (err.message) return err.message;
  if (err instanceof AggregateError) return err.errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ');
  return err.name;
}

/**
 * The store `config` names (DATABASE_URL, and REDIS_URL when set). A backend that does not answer
 * is an environment problem, reported like a bad setting: a ConfigError naming the variable, so
 * the process stops with one line instead of a stack trace.
 */
export async function openConfiguredStore(config: Config, { migrate = true }: { migrate?: boolean } = {}): Promise<Storage> {
  try {
    return await openStore(config.DATABASE_URL, { migrate, redisUrl: config.REDIS_URL });
  } catch (err) {
    if (err instanceof RedisUnreachableError) throw new ConfigError(err.message, { cause: err });
    if (isUnreachable(err)) throw new ConfigError(`DATABASE_URL: ${failedTo(config.DATABASE_URL)} (${reasonOf(err)})`, { cause: err });
    throw err;
  }
}
