/**
 * Where a /chat turn's CPU goes: our bench server (production build) under b's /chat load, profiled
 * with V8's sampling profiler (node:inspector, started after a warm-up), every sample charged to a
 * layer. Prints CPU per request by layer.
 *
 *   node --import tsx bench/profile.ts [--model bare-instant] [--seconds 10] [--connections 50] [--keep FILE]
 *
 * --model is the bench server's BENCH_MODEL: instant (default: our agent loop over an in-process
 * LanguageModelV3), bare-instant (an Agent without the AI SDK), or configured (the provider package,
 * @ai-sdk/openai-compatible, over HTTP to bench/servers/fake-upstream.ts, started here).
 *
 * A sample is charged to the first frame, from the top of its stack down, that belongs to a layer:
 * Kysely's and better-sqlite3's native `run`/`all` count as the store, web streams used by the
 * provider package as the model layer, JSON.parse/stringify (V8 builtins) as JSON wherever they
 * are called from. Time in no layer's frames (Node's own HTTP, timers, promise jobs) is "Node".
 */
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { throughput } from './lib/load.js';
import { freePort, signalTree, startServer } from './lib/processes.js';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', default: 'instant' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    keep: { type: 'string' },
  },
});
const ROOT = new URL('..', import.meta.url).pathname;
const KEY = 'bench-key';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const SQLITE = 'store: SQLite (better-sqlite3, statements)';
const SQLITE_NATIVE = new Set(['run', 'all', 'get', 'iterate', 'exec', 'prepare', 'transaction']);

/** Layers, first match wins, tried on each frame from the leaf down. */
const layers: Array<[string, (url: string, fn: string) => boolean]> = [
  ['JSON (parse/stringify)', (url, fn) => url === '' && (fn === 'stringify' || fn === 'parse')],
  ['auth (api keys)', (url) => url.includes('/dist/http/api-keys.js')],
  ['validation (zod)', (url) => url.includes('/node_modules/zod/') || url.includes('/fastify-type-provider-zod/')],
  [SQLITE, (url) => url.includes('/node_modules/better-sqlite3/')],
  ['store: Kysely', (url) => url.includes('/node_modules/kysely/')],
  ['store: ours (dist/store)', (url) => url.includes('/dist/store/')],
  ['model layer (ai, @ai-sdk/*)', (url) => url.includes('/node_modules/ai/') || url.includes('/node_modules/@ai-sdk/')],
  ['model layer: fetch (undici)', (url) => url.startsWith('node:internal/deps/undici')],
  ['bench model (in-process fake)', (url) => url.includes('/bench/servers/')],
  ['ours: agent loop (dist/agent)', (url) => url.includes('/dist/agent/')],
  ['ours: runs (dist/runs)', (url) => url.includes('/dist/runs/')],
  ['ours: SSE, collectTurn, routes (dist/http)', (url) => url.includes('/dist/http/')],
  ['ours: other (dist)', (url) => url.includes('/dist/')],
  [
    'HTTP: Fastify and plugins',
    (url) =>
      /\/node_modules\/(fastify|@fastify|find-my-way|avvio|light-my-request|fast-json-stringify|secure-json-parse|fast-querystring|toad-cache)\//.test(url),
  ],
  ['logging (pino)', (url) => /\/node_modules\/(pino|sonic-boom|thread-stream|abstract-logging)/.test(url)],
  ['Node: http, net', (url) => /^node:(_http|http|net|internal\/(http|net|stream_base|js_stream))/.test(url)],
  ['Node: web streams', (url) => url.startsWith('node:internal/webstreams')],
];

function breakdown(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const layerOf = new Map<number, string>();
  const classify = (id: number): string => {
    const known = layerOf.get(id);
    if (known) return known;
    const { functionName: fn, url } = byId.get(id)!.callFrame;
    let layer: string;
    if (fn === '(idle)') layer = 'idle';
    else if (fn === '(garbage collector)') layer = 'GC';
    else if (fn === '(program)') layer = 'V8/native, unattributed';
    else {
      const own = layers.find(([, test]) => test(url, fn))?.[0];
      const up = parent.get(id);
      const below = up === undefined || byId.get(up)!.callFrame.functionName === '(root)' ? 'Node: other (timers, promise jobs, events)' : classify(up);
      // better-sqlite3's statements are C++: SQLite itself, called from Kysely's driver.
      layer = own ?? (url === '' && SQLITE_NATIVE.has(fn) && below.startsWith('store') ? SQLITE : below);
    }
    layerOf.set(id, layer);
    return layer;
  };
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const layer = classify(id);
    totals.set(layer, (totals.get(layer) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return totals;
}

const file = args.keep ?? join(os.tmpdir(), `agent-api-profile-${process.pid}.cpuprofile`);
const upstream =
  args.model === 'configured'
    ? await (async () => {
        const p = await freePort();
        const s = await startServer({
          name: 'fake upstream',
          command: process.execPath,
          args: ['--import', import.meta.resolve('tsx'), join(ROOT, 'bench/servers/fake-upstream.ts')],
          env: { PORT: String(p) },
          port: p,
          readyPath: '/v1/models',
          captureStdout: true,
        });
        return { ...s, baseUrl: s.stdout().split('\n')[0]!.trim() };
      })()
    : undefined;
const port = await freePort();
const server = await startServer({
  name: 'agent-api',
  command: process.execPath,
  args: ['--expose-gc', join(ROOT, 'bench/servers/agent-server.mjs')],
  env: {
    PORT: String(port),
    HOST: '127.0.0.1',
    VALID_API_KEYS: KEY,
    DATABASE_URL: `sqlite:${join(os.tmpdir(), `agent-api-profile-${process.pid}.db`)}`,
    LLM_MAX_RETRIES: '0',
    BENCH_MODEL: args.model,
    BENCH_CPU_PROFILE: file,
    ...(upstream ? { LLM_BASE_URL: upstream.baseUrl, LLM_MODEL: 'fake-model' } : {}),
  },
  port,
});
const spec = {
  url: `${server.url}/chat`,
  method: 'POST' as const,
  headers: { 'content-type': 'application/json', 'x-api-key': KEY },
  body: JSON.stringify({ message: 'What is 2+2?' }),
};
const load = { connections: Number(args.connections), seconds: Number(args.seconds) };
try {
  await throughput(spec, { ...load, seconds: 3 });
  signalTree(server.pid, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 200));
  const cpu = server.cpu();
  const t = await throughput(spec, load);
  const cpuMs = server.cpu() - cpu;
  signalTree(server.pid, 'SIGHUP');
  let profile: Profile | undefined;
  for (let i = 0; i < 100 && !profile; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
    } catch {
      // not written yet
    }
  }
  if (!profile) throw new Error(`no profile in ${file}`);
  const totals = breakdown(profile);
  const busy = [...totals].filter(([k]) => k !== 'idle').reduce((sum, [, v]) => sum + v, 0);
  const perRequest = (ms: number) => (ms / t.requests).toFixed(3);
  process.stdout.write(
    `${args.model}: ${Math.round(t.rps)} req/s, ${t.requests} requests, ${t.errors} errors; server CPU ${(cpuMs / t.requests).toFixed(2)} ms/request (/proc), ` +
      `profiled busy ${perRequest(busy)} ms/request\n`,
  );
  for (const [layer, ms] of [...totals].sort((a, b) => b[1] - a[1])) {
    if (layer === 'idle') continue;
    process.stdout.write(`  ${layer.padEnd(44)} ${perRequest(ms).padStart(7)} ms  ${((100 * ms) / busy).toFixed(1).padStart(5)}%\n`);
  }
} finally {
  await server.stop();
  await upstream?.stop();
  rmSync(join(os.tmpdir(), `agent-api-profile-${process.pid}.db`), { force: true });
  rmSync(join(os.tmpdir(), `agent-api-profile-${process.pid}.db-wal`), { force: true });
  rmSync(join(os.tmpdir(), `agent-api-profile-${process.pid}.db-shm`), { force: true });
  if (!args.keep) rmSync(file, { force: true });
}
