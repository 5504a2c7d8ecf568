import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Agent } from '../../agent/agent.js';
import type { AgentEvent } from '../../core/events.js';
import type { ObservedEnd, RunObserver } from '../../runs/run-observer.js';
import { LabelCells, type Cell } from './label-cells.js';

/** Routes Fastify matched none of: one label, whatever the path (no series per probed URL). */
export const UNMATCHED_ROUTE = 'unmatched';
/** Tool names come from the model, which may invent them: past this many, the rest count as `other`. */
const MAX_TOOL_LABELS = 100;

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

/** A counter whose series live in `cells`, read into prom-client when it is scraped. */
function cellCounter(registry: Registry, name: string, help: string, cells: LabelCells): void {
  new Counter({
    name,
    help,
    labelNames: cells.names,
    registers: [registry],
    collect() {
      this.reset();
      for (const cell of cells.all) this.inc(cell.labels, cell.value);
    },
  });
}

/** What one run counts into, found once at its start. */
interface RunWatch {
  readonly startedAt: number;
  readonly agent: string;
  readonly input: Cell;
  readonly output: Cell;
  firstToken: boolean;
}

/**
 * This app's metrics (HTTP, runs, rate limiting) in its own registry; Node's process metrics are in
 * `processRegistry()`. Counting is on the request and token paths, so it only adds to numbers kept
 * in cells (see LabelCells); prom-client turns them into series when scraped.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests = new LabelCells(['route', 'method', 'status']);
  private readonly requestDuration: Histogram<'route'>;
  /** `{ route }` label objects, one per route, for the histogram. */
  private readonly routeLabels = new Map<string, { route: string }>();
  private readonly runs = new LabelCells(['agent', 'status']);
  private readonly tokens = new LabelCells(['agent', 'model', 'direction']);
  private readonly toolCalls = new LabelCells(['tool', 'outcome']);
  private readonly upstreamErrors = new LabelCells(['code']);
  private readonly firstToken: Histogram;
  private readonly runDuration: Histogram;
  private activeRuns = 0;
  private rateLimitedCount = 0;

  constructor() {
    const registers = [this.registry];
    cellCounter(
      this.registry,
      'http_requests_total',
      'HTTP requests answered, by route pattern, method and status (499: the client hung up first)',
      this.requests,
    );
    this.requestDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request to the end of its response (for streams, the end of the stream), by route pattern',
      labelNames: ['route'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    const active = () => this.activeRuns;
    new Gauge({
      name: 'agent_runs_active',
      help: 'Runs in progress',
      registers,
      collect() {
        this.set(active());
      },
    });
    cellCounter(this.registry, 'agent_runs_total', 'Runs ended, by agent and status (completed, failed, cancelled, interrupted)', this.runs);
    this.firstToken = new Histogram({
      name: 'agent_time_to_first_token_seconds',
      help: "Time from a run's start to its first token of reply text",
      buckets: RUN_BUCKETS,
      registers,
    });
    this.runDuration = new Histogram({ name: 'agent_run_duration_seconds', help: 'Time from a run’s start to its end', buckets: RUN_BUCKETS, registers });
    cellCounter(this.registry, 'agent_tokens_total', 'Tokens used, by agent, model and direction (input, output)', this.tokens);
    cellCounter(this.registry, 'agent_tool_calls_total', 'Tool calls answered, by tool and outcome (ok, error)', this.toolCalls);
    cellCounter(this.registry, 'agent_upstream_errors_total', 'Runs ended by a model provider failure, by error code', this.upstreamErrors);
    const limited = () => this.rateLimitedCount;
    new Counter({
      name: 'rate_limited_total',
      help: 'Requests refused by the rate limit',
      registers,
      collect() {
        this.reset();
        this.inc(limited());
      },
    });
  }

  /** One answered request; `route` is the route's pattern, never its path. */
  request(route: string | undefined, method: string, status: number, seconds: number): void {
    const pattern = route ?? UNMATCHED_ROUTE;
    this.requests.cell(pattern, method, status).value++;
    let labels = this.routeLabels.get(pattern);
    if (!labels) this.routeLabels.set(pattern, (labels = { route: pattern }));
    this.requestDuration.observe(labels, seconds);
  }

  rateLimited(): void {
    this.rateLimitedCount++;
  }

  readonly runObserver: RunObserver<RunWatch> = {
    onRunStart: (agent: Agent): RunWatch => {
      this.activeRuns++;
      const model = agent.modelName ?? 'unknown';
      return {
        startedAt: performance.now(),
        agent: agent.name,
        input: this.tokens.cell(agent.name, model, 'input'),
        output: this.tokens.cell(agent.name, model, 'output'),
        firstToken: false,
      };
    },
    onEvent: (run: RunWatch, event: AgentEvent): void => {
      if (event.type === 'token') {
        if (!run.firstToken) {
          run.firstToken = true;
          this.firstToken.observe((performance.now() - run.startedAt) / 1000);
        }
      } else if (event.type === 'step_finish') {
        run.input.value += event.usage.input_tokens;
        run.output.value += event.usage.output_tokens;
      } else if (event.type === 'tool_result') {
        const failed = typeof event.result === 'object' && event.result !== null && 'error' in event.result;
        this.toolCalls.cell(this.toolLabel(event.name), failed ? 'error' : 'ok').value++;
      }
    },
    onRunEnd: (run: RunWatch, end: ObservedEnd): void => {
      this.activeRuns--;
      this.runDuration.observe((performance.now() - run.startedAt) / 1000);
      this.runs.cell(run.agent, end.status).value++;
      if (end.errorCode?.startsWith('upstream_')) this.upstreamErrors.cell(end.errorCode).value++;
    },
  };

  private readonly toolNames = new Set<string>();
  private toolLabel(name: string): string {
    if (this.toolNames.has(name)) return name;
    if (this.toolNames.size >= MAX_TOOL_LABELS) return 'other';
    this.toolNames.add(name);
    return name;
  }
}
