export { KyselyStore } from './kysely-store.js';
export { parseDatabaseUrl, type StoreLocation } from './database-url.js';
export { openStore, type OpenStoreOptions } from './open-store.js';
export type { SessionInfo, Store, StoredMessage } from './store.js';
