import type { Redis } from 'ioredis';
import { connectDatabase } from './connect-database.js';
import { parseDatabaseUrl } from './database-url.js';
import { KyselyStore } from './kysely-store.js';
import { migrateToLatest } from './migrations.js';
import { openRedis } from './open-redis.js';
import { DEFAULT_KEY_PREFIX, RedisRunStore, type RedisRunStoreOptions } from './redis-run-store.js';
import type { Storage } from './storage.js';

export interface OpenStoreOptions {
  /** Run migrations first (default true). Cluster workers skip it: the primary migrated already. */
  migrate?: boolean;
  /**
   * `REDIS_URL`: keep each run's live log in Redis, and signal new events and cancels through it;
   * sessions, messages and the run registry stay in the database. Unset: the database holds all.
   */
  redisUrl?: string | undefined;
  /** Key prefix and connection pool size when `redisUrl` is set. */
  redis?: RedisRunStoreOptions;
}

export async function openStore(databaseUrl: string, { migrate = true, redisUrl, redis }: OpenStoreOptions = {}): Promise<Storage> {
  const location = parseDatabaseUrl(databaseUrl);
  if (!location) throw new Error(`DATABASE_URL: unsupported value '${databaseUrl}' (use sqlite:PATH or postgres://…)`);
  const db = connectDatabase(location);
  try {
    if (migrate) await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const sql = new KyselyStore(db);
  if (redisUrl === undefined) return sql;
  let client: Redis | undefined;
  try {
    // Named after the prefix, as the store names its other connections: CLIENT LIST tells whose they are.
    client = await openRedis(redisUrl, { connectionName: `${redis?.keyPrefix ?? DEFAULT_KEY_PREFIX}commands` });
    return await RedisRunStore.open(sql, db, client, redis);
  } catch (err) {
    client?.disconnect();
    await sql.close();
    throw err;
  }
}
