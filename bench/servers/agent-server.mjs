// Our service from the production build (dist/), serving an in-process model so the benchmark
// measures the service itself: auth, validation, the SQLite session, the agent loop, SSE.
//   BENCH_MODEL=instant   one short reply at once (default)
//   BENCH_MODEL=tokens:N  N text deltas at once
//   BENCH_MODEL=hold      one token, then silence until the client hangs up (open-stream count)
import { createAgent, createAgentServer, defaultTools, loadConfig } from '../../dist/index.js';

const mode = process.env.BENCH_MODEL ?? 'instant';
const tokens = mode.startsWith('tokens:') ? Number(mode.slice(7)) : 1;
const hold = mode === 'hold';
const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: tokens, text: tokens, reasoning: 0 } };

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
        for (let i = 0; i < tokens; i++) c.enqueue({ type: 'text-delta', id: 't', delta: i === 0 ? 'Hello' : ' tok' });
        c.enqueue({ type: 'text-end', id: 't' });
        c.enqueue({ type: 'finish', usage, finishReason: { unified: 'stop', raw: 'stop' } });
        c.close();
      },
    });
    return { stream };
  },
};

const config = loadConfig();
const agent = createAgent({ model, tools: defaultTools, maxSteps: config.AGENT_MAX_STEPS, historyWindow: config.AGENT_HISTORY_MESSAGES, timeoutMs: config.LLM_TIMEOUT_MS });
const server = await createAgentServer({ agent, config });
const stop = () => void server.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
await server.listen();
