import type { RunStore } from './run-store.js';
import type { Store } from './store.js';

/** Everything the service keeps: sessions and messages, and the runs with their event logs. */
export type Storage = Store & RunStore;
