import { collectDefaultMetrics, Registry } from 'prom-client';

let registry: Registry | undefined;

/**
 * Node's process metrics (CPU, memory, event loop lag, GC), collected once per process however many
 * apps it runs (tests start several): each collector adds observers and timers of its own.
 */
export function processRegistry(): Registry {
  if (!registry) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}
