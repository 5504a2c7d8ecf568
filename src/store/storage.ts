import type { RunStore } from './run-store.js';
import type { Store } from './store.js';
import type { KeyStore } from './key-store.js';
import type { UsageStore } from './usage-store.js';

/** Everything the service keeps: sessions and messages, the runs with their event logs, managed keys and the usage ledger. */
export type Storage = Store &
  RunStore &
  KeyStore &
  UsageStore & {
    /**
     * Optional: runs `work` with a view of this storage whose calls are one transaction, so the
     * several writes that start or end a run are one commit. A backend without it gets them one by one.
     */
    atomically?<T>(work: (storage: Storage) => Promise<T>): Promise<T>;
  };
