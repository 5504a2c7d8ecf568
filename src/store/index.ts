export { KyselyStore } from './kysely-store.js';
export { parseDatabaseUrl, type StoreLocation } from './database-url.js';
export { openStore, type OpenStoreOptions } from './open-store.js';
export { parseSessionCursor, sessionCursor, type SessionInfo, type Store, type StoredMessage } from './store.js';
