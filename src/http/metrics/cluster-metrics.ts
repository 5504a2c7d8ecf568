import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * With WORKERS > 1 the primary holds no listening socket, so a scrape reaches one worker; that
 * worker asks the primary, the primary asks every worker that is listening for its registries'
 * numbers and sends back their sum (prom-client's AggregatorRegistry.aggregate). Workers still
 * starting are not asked: they have counted nothing yet, and waiting for them would fail the scrape.
 */
const SCRAPE = 'agent-api:metrics-scrape'; // worker → primary
const COLLECT = 'agent-api:metrics-collect'; // primary → worker
const COLLECTED = 'agent-api:metrics-collected'; // worker → primary
const SCRAPED = 'agent-api:metrics-scraped'; // primary → worker

interface Message {
  type: string;
  id: number;
  text?: string;
  metrics?: MetricsJson[];
  error?: string;
}

const isMessage = (message: unknown, type: string): message is Message =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;

const TIMEOUT_MS = 10_000;

/** Requests waiting for answers, by id; each fails after TIMEOUT_MS. */
class Pending<T> {
  private readonly waiting = new Map<number, { resolve: (value: T) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private next = 0;

  open(what: string): { id: number; answer: Promise<T> } {
    const id = this.next++;
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${what} did not arrive within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      this.waiting.set(id, { resolve, reject, timer });
    });
    return { id, answer };
  }

  settle(id: number, outcome: { value: T } | { error: Error }): void {
    const waiter = this.waiting.get(id);
    if (!waiter) return;
    this.waiting.delete(id);
    clearTimeout(waiter.timer);
    if ('value' in outcome) waiter.resolve(outcome.value);
    else waiter.reject(outcome.error);
  }
}

/** In the primary: answers the workers' scrapes with the sum of every listening worker's metrics. */
export function answerWorkerMetrics(): void {
  const listening = new WeakSet<Worker>();
  cluster.on('listening', (worker) => listening.add(worker));
  const collects = new Pending<MetricsJson[]>();
  const collect = async (): Promise<string> => {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && listening.has(w) && w.isConnected());
    const answers = workers.map((worker) => {
      const { id, answer } = collects.open(`the metrics of worker ${worker.process.pid}`);
      worker.send({ type: COLLECT, id } satisfies Message, undefined, (err) => {
        if (err) collects.settle(id, { error: err });
      });
      return answer;
    });
    return AggregatorRegistry.aggregate((await Promise.all(answers)).flat()).metrics();
  };
  cluster.on('message', (worker, message: unknown) => {
    if (isMessage(message, COLLECTED)) {
      collects.settle(message.id, message.metrics ? { value: message.metrics } : { error: new Error(message.error ?? 'no metrics') });
    } else if (isMessage(message, SCRAPE)) {
      const { id } = message;
      const reply = (answer: Omit<Message, 'type' | 'id'>) => {
        // A worker that died meanwhile is past answering.
        if (worker.isConnected()) worker.send({ type: SCRAPED, id, ...answer } satisfies Message, undefined, () => {});
      };
      collect().then(
        (text) => reply({ text }),
        (err: unknown) => reply({ error: err instanceof Error ? err.message : String(err) }),
      );
    }
  });
}

/**
 * In a worker: answers the primary's collection with `registries`, and returns how to get the
 * whole group's metrics text from the primary (set only under agent-api's own primary).
 */
export function metricsFromPrimary(registries: readonly Registry[]): () => Promise<string> {
  const send = (message: Message, onError: (err: Error) => void = () => {}) =>
    process.send!(message, undefined, {}, (err: Error | null) => {
      if (err) onError(err);
    });
  const scrapes = new Pending<string>();
  process.on('message', (message: unknown) => {
    if (isMessage(message, SCRAPED)) {
      scrapes.settle(
        message.id,
        message.text !== undefined ? { value: message.text } : { error: new Error(`the primary could not gather the workers' metrics: ${message.error}`) },
      );
    } else if (isMessage(message, COLLECT)) {
      const { id } = message;
      Promise.all(registries.map((r) => r.getMetricsAsJSON())).then(
        (metrics) => send({ type: COLLECTED, id, metrics }),
        (err: unknown) => send({ type: COLLECTED, id, error: err instanceof Error ? err.message : String(err) }),
      );
    }
  });
  return () => {
    const { id, answer } = scrapes.open("the workers' metrics from the primary");
    send({ type: SCRAPE, id }, (err) => scrapes.settle(id, { error: err }));
    return answer;
  };
}
