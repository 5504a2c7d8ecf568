// Our service from the production build (dist/), serving an in-process model so the benchmark
// measures the service itself: auth, validation, the SQLite session, the agent loop, SSE.
//   BENCH_MODEL=instant   one short reply at once (default)
//   BENCH_MODEL=tokens:N  N text deltas at once
//   BENCH_MODEL=hold      one token, then silence until the client hangs up (open-stream count)
// A `bare-` prefix (bare-instant, bare-tokens:N, bare-hold) serves the same from an Agent written
// without the AI SDK, which separates the SDK's cost from the service's own.
//   BENCH_MODEL=configured  the agent `npm start` serves: LLM_PROVIDER/LLM_BASE_URL/LLM_MODEL through its provider package
// Debugging aids for the benchmarks (bench/run.ts scenario h, bench/profile.ts):
//   BENCH_STATS_FILE=path     on SIGUSR2 (after the full GC), append one JSON line: memory, live handles, runs
//   BENCH_CPU_PROFILE=path    SIGHUP starts a CPU profile (node:inspector), the next SIGHUP writes it to path
//                             (`--cpu-prof` writes nothing on our exit path)
import { appendFileSync, writeFileSync } from 'node:fs';
import { createAgent, createAgentServer, defaultTools, loadConfig } from '../../dist/index.js';

const bare = (process.env.BENCH_MODEL ?? '').startsWith('bare-');
const mode = (process.env.BENCH_MODEL ?? 'instant').replace(/^bare-/, '');
const tokens = mode.startsWith('tokens:') ? Number(mode.slice(7)) : 1;
const hold = mode === 'hold';
const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: tokens, text: tokens, reasoning: 0 } };
const delta = (i) => (i === 0 ? 'Hello' : ' tok');

/** A LanguageModelV3 that answers from memory: no network, no sleep. */
const model = {
  specificationVersion: 'v3',
  provider: 'bench',
  modelId: mode,
  supportedUrls: {},
  async doGenerate() {
    throw new Error('the bench model only streams');
  },
  async doStream({ abortSignal }) {
    const stream = new ReadableStream({
      start(c) {
        c.enqueue({ type: 'stream-start', warnings: [] });
        c.enqueue({ type: 'text-start', id: 't' });
        if (hold) {
          c.enqueue({ type: 'text-delta', id: 't', delta: 'holding' });
          abortSignal?.addEventListener('abort', () => c.error(abortSignal.reason), { once: true });
          return;
        }
        for (let i = 0; i < tokens; i++) c.enqueue({ type: 'text-delta', id: 't', delta: delta(i) });
        c.enqueue({ type: 'text-end', id: 't' });
        c.enqueue({ type: 'finish', usage, finishReason: { unified: 'stop', raw: 'stop' } });
        c.close();
      },
    });
    return { stream };
  },
};

/** The same behaviour as an Agent implemented directly. */
const bareAgent = {
  name: 'bare',
  historyWindow: 50,
  notReadyReason: () => undefined,
  async *run({ signal }) {
    if (hold) {
      yield { type: 'token', content: 'holding' };
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      throw signal.reason;
    }
    for (let i = 0; i < tokens; i++) yield { type: 'token', content: delta(i) };
    yield { type: 'finish', usage: { input_tokens: 10, output_tokens: tokens, total_tokens: 10 + tokens }, finish_reason: 'stop' };
  },
};

const config = loadConfig();
const agent = bare
  ? bareAgent
  : createAgent({
      model,
      tools: defaultTools,
      maxSteps: config.AGENT_MAX_STEPS,
      historyWindow: config.AGENT_HISTORY_MESSAGES,
      timeoutMs: config.LLM_TIMEOUT_MS,
    });
const server = await createAgentServer({ ...(process.env.BENCH_MODEL === 'configured' ? {} : { agent }), config });
// Under --expose-gc, SIGUSR2 runs a full collection: memory per open stream is then measured as
// what the streams retain, not as garbage V8 has not yet collected.
if (globalThis.gc)
  process.on('SIGUSR2', () => {
    globalThis.gc();
    globalThis.gc();
    if (process.env.BENCH_STATS_FILE) appendFileSync(process.env.BENCH_STATS_FILE, `${JSON.stringify(stats())}\n`);
  });

/** What the process holds after a full GC: memory, handles and requests libuv keeps alive (by kind), runs still going. */
function stats() {
  const resources = {};
  for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
  return { pid: process.pid, at: Date.now(), ...process.memoryUsage(), resources, activeRuns: server.activeRuns };
}

if (process.env.BENCH_CPU_PROFILE) {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  let profiling = false;
  let busy = Promise.resolve();
  process.on('SIGHUP', () => {
    busy = busy.then(async () => {
      if (!profiling) {
        await session.post('Profiler.enable');
        await session.post('Profiler.setSamplingInterval', { interval: 200 });
        await session.post('Profiler.start');
      } else {
        const { profile } = await session.post('Profiler.stop');
        writeFileSync(process.env.BENCH_CPU_PROFILE, JSON.stringify(profile));
      }
      profiling = !profiling;
    });
  });
}
const stop = () => void server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await server.listen();
