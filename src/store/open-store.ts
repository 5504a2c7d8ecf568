import { connectDatabase } from './connect-database.js';
import { parseDatabaseUrl } from './database-url.js';
import { KyselyStore } from './kysely-store.js';
import { migrateToLatest } from './migrations.js';
import type { Storage } from './storage.js';

export interface OpenStoreOptions {
  /** Run migrations first (default true). Cluster workers skip it: the primary migrated already. */
  migrate?: boolean;
}

export async function openStore(databaseUrl: string, { migrate = true }: OpenStoreOptions = {}): Promise<Storage> {
  const location = parseDatabaseUrl(databaseUrl);
  if (!location) throw new Error(`DATABASE_URL: unsupported value '${databaseUrl}' (use sqlite:PATH or postgres://…)`);
  const db = connectDatabase(location);
  try {
    if (migrate) await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new KyselyStore(db);
}
