import { Redis, type RedisOptions } from 'ioredis';

/** Redis did not answer at start: the message names REDIS_URL and where it points, for operators. */
export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError';
}

/**
 * A connected client for `REDIS_URL` (`redis://…`, or `rediss://…` for TLS). Connecting is awaited
 * here so that a wrong URL stops the start with one clear line instead of a client that keeps
 * reconnecting in the background while every request waits on it.
 */
export async function openRedis(url: string, options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis(url, {
    lazyConnect: true,
    // A host that drops packets would otherwise hold the start for ioredis's default 10 s per attempt.
    connectTimeout: 5000,
    // A command rides out a brief outage (a few reconnects) and then fails, so a request gets an
    // answer instead of waiting through the 20 reconnects ioredis allows by default.
    maxRetriesPerRequest: 3,
    ...options,
  });
  let lastError: Error | undefined;
  // Without a listener ioredis prints every connection error; failures reach callers as rejected
  // commands (and /ready reports the outage), so the event itself is only remembered here.
  client.on('error', (err: Error) => (lastError = err));
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    const { host, port } = client.options;
    const cause = lastError ?? (err instanceof Error ? err : new Error(String(err)));
    throw new RedisUnreachableError(`REDIS_URL: cannot reach Redis at ${host ?? '127.0.0.1'}:${port ?? 6379} (${cause.message})`, { cause });
  }
  return client;
}
