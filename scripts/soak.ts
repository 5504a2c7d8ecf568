/**
 * Soak test of the built service (dist/main.js) on the Node that runs this script: native crashes
 * at start, idle, load and exit, and memory growth. Not part of `npm test`; it takes minutes to hours.
 *
 *   npm run build
 *   node --import tsx scripts/soak.ts --cycles 100 --minutes 60          # on this machine's Node
 *   PATH="$(dirname "$(scripts/node24.sh)"):$PATH" node --import tsx scripts/soak.ts ...   # on Node 24
 *
 * (on another Node, better-sqlite3 must be built for it: see CONTRIBUTING.md.)
 *
 * Part 1, `--cycles N`: N times start the service (SQLite in a temp dir; every 4th cycle with
 * WORKERS=2, whose primary opens and closes a store before forking), send a few /chat and
 * /chat/stream requests, stay idle `--cycle-idle` seconds (every 10th cycle `--long-idle`), then
 * stop it with SIGTERM (SIGINT every other time). Never SIGKILL: every exit is the service's own.
 * A cycle fails if the process does not exit 0, dies on a signal, or prints "Assertion failed".
 *
 * Part 2, `--minutes M`: one service for M minutes, alternating `--load` seconds of requests
 * (`--concurrency` clients, at most `--rate` requests/s in all: it is about crashes and leaks, not
 * speed) with `--idle` seconds of nothing; RSS (the process and its children) every `--sample`
 * seconds. The summary gives RSS at the end of each idle phase and the least-squares slope of those.
 *
 * The model is test/support/fake-llm.ts on loopback. `--out FILE` writes the samples and results
 * as JSON. Exit code 1 on any crash or failed request, else 0.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { startFakeLlm } from '../test/support/fake-llm.js';

const ROOT = new URL('..', import.meta.url).pathname;
const KEY = 'soak-key';

const { values: opt } = parseArgs({
  options: {
    cycles: { type: 'string', default: '20' },
    'cycle-idle': { type: 'string', default: '3' },
    'long-idle': { type: 'string', default: '30' },
    minutes: { type: 'string', default: '0' },
    load: { type: 'string', default: '180' },
    idle: { type: 'string', default: '120' },
    concurrency: { type: 'string', default: '4' },
    rate: { type: 'string', default: '25' },
    sample: { type: 'string', default: '10' },
    out: { type: 'string' },
  },
});
const num = (name: keyof typeof opt): number => {
  const v = Number(opt[name]);
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name}: not a number: ${String(opt[name])}`);
  return v;
};

const log = (msg: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return (m ? Number(m[1]) * 1024 : 0) + kids.reduce((sum, k) => sum + rssOf(k), 0);
  } catch {
    return 0;
  }
}

interface Service {
  pid: number;
  url: string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startService(env: Record<string, string>, dir: string, llmUrl: string): Promise<Service> {
  const port = await freePort();
  const proc = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
    cwd: dir,
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? dir,
      VALID_API_KEYS: KEY,
      DATABASE_URL: `sqlite:${join(dir, 'agent-api.db')}`,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      LLM_BASE_URL: llmUrl,
      LLM_MODEL: 'fake-model',
      LLM_API_KEY: 'fake',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-20_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => (gone = true)); // only read below, to stop polling a dead process
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (gone) throw new Error(`service exited before answering /health: ${err.slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`service did not answer /health within 30 s: ${err.slice(-2000)}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return { pid: proc.pid!, url, stderr: () => err, exited };
}

/** One request; resolves to an error description or undefined. The stream is read to its end. */
async function request(url: string, path: '/chat' | '/chat/stream', sessionId: string): Promise<string | undefined> {
  try {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ message: 'What is 2+2?', session_id: sessionId }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (res.status === 409) return undefined; // the session is busy with another client's turn: expected under load
    if (!res.ok) return `${path} ${res.status}: ${text.slice(0, 200)}`;
    if (path === '/chat/stream' && !text.includes('event: end') && !text.includes('"type":"end"')) return `${path}: stream ended without an end event`;
    return undefined;
  } catch (err) {
    return `${path}: ${(err as Error).message}`;
  }
}

function crashOf(exit: { code: number | null; signal: NodeJS.Signals | null }, stderr: string): string | undefined {
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.code !== 0) return `exit code ${exit.code}`;
  if (stderr.includes('Assertion failed')) return 'printed "Assertion failed"';
  return undefined;
}

const fake = await startFakeLlm();
fake.setDefault({ text: 'Four. Two plus two is four.', chunks: ['Four.', ' Two', ' plus', ' two', ' is', ' four.'] });
const results: Record<string, unknown> = { node: process.version, started: new Date().toISOString() };
let failures = 0;

// Part 1: start → requests → idle → stop cycles.
const cycles = num('cycles');
const cycleResults: Array<{ cycle: number; workers: number; signal: string; idleS: number; ms: number; crash?: string; errors: string[] }> = [];
for (let i = 1; i <= cycles; i++) {
  const dir = mkdtempSync(join(tmpdir(), 'agent-api-soak-'));
  const workers = i % 4 === 0 ? 2 : 1;
  const stopSignal: NodeJS.Signals = i % 2 === 0 ? 'SIGINT' : 'SIGTERM';
  const idleS = i % 10 === 0 ? num('long-idle') : num('cycle-idle');
  const t0 = Date.now();
  const errors: string[] = [];
  let crash: string | undefined;
  try {
    const svc = await startService({ WORKERS: String(workers) }, dir, fake.url);
    const session = `cycle-${i}`;
    for (const path of ['/chat', '/chat/stream', '/chat'] as const) {
      const e = await request(svc.url, path, session);
      if (e) errors.push(e);
    }
    const early = await Promise.race([svc.exited, sleep(idleS * 1000).then(() => undefined)]);
    if (!early) process.kill(svc.pid, stopSignal);
    const exit = early ?? (await Promise.race([svc.exited, sleep(30_000).then(() => ({ code: null, signal: 'SIGKILL' as const }))]));
    crash = crashOf(exit, svc.stderr());
    if (early && !crash) crash = 'exited by itself while idle';
    if (crash) crash += `${early ? ' (while idle)' : ` (after ${stopSignal})`}: ${svc.stderr().slice(-1500)}`;
  } catch (err) {
    crash = (err as Error).message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  fake.requests.length = 0;
  cycleResults.push({ cycle: i, workers, signal: stopSignal, idleS, ms: Date.now() - t0, ...(crash ? { crash } : {}), errors });
  if (crash || errors.length) failures++;
  if (crash) log(`cycle ${i}: CRASH ${crash}`);
  if (errors.length) log(`cycle ${i}: request errors: ${errors.join('; ')}`);
  if (i % 10 === 0 || i === cycles) log(`cycles: ${i}/${cycles} done, ${cycleResults.filter((c) => c.crash).length} crashed`);
}
if (cycles) {
  results['cycles'] = {
    count: cycles,
    crashes: cycleResults.filter((c) => c.crash).length,
    withRequestErrors: cycleResults.filter((c) => c.errors.length).length,
    failed: cycleResults.filter((c) => c.crash || c.errors.length),
  };
}

// Part 2: one service, loaded and idle in turns, RSS sampled throughout.
const minutes = num('minutes');
if (minutes > 0) {
  const dir = mkdtempSync(join(tmpdir(), 'agent-api-soak-'));
  const svc = await startService({}, dir, fake.url);
  const t0 = Date.now();
  const end = t0 + minutes * 60_000;
  const samples: Array<{ s: number; phase: string; rss: number; requests: number }> = [];
  const idleEnds: Array<{ s: number; rss: number }> = [];
  let requests = 0;
  let requestErrors = 0;
  const errorExamples: string[] = [];
  let phase = 'idle';
  let crashed: string | undefined;
  void svc.exited.then((exit) => (crashed ??= `exited during the run: ${crashOf(exit, svc.stderr()) ?? 'exit code 0'}: ${svc.stderr().slice(-1500)}`));
  const sampler = setInterval(
    () => {
      const rss = rssOf(svc.pid);
      samples.push({ s: Math.round((Date.now() - t0) / 1000), phase, rss, requests });
    },
    num('sample') * 1000,
  );
  const minGapMs = (1000 * num('concurrency')) / num('rate');
  let round = 0;
  while (Date.now() < end && !crashed) {
    round++;
    phase = 'load';
    const loadEnd = Math.min(end, Date.now() + num('load') * 1000);
    log(`run: round ${round}, loaded for ${Math.round((loadEnd - Date.now()) / 1000)} s (RSS ${mb(rssOf(svc.pid))})`);
    await Promise.all(
      Array.from({ length: num('concurrency') }, async (_, w) => {
        for (let n = 0; Date.now() < loadEnd && !crashed; n++) {
          const started = Date.now();
          // 50 sessions in turn: histories grow up to the window, and rows accumulate like a real store's.
          const e = await request(svc.url, n % 2 ? '/chat/stream' : '/chat', `soak-${(w * 7919 + n) % 50}`);
          requests++;
          if (e) {
            requestErrors++;
            if (errorExamples.length < 10) errorExamples.push(e);
          }
          await sleep(Math.max(0, minGapMs - (Date.now() - started)));
        }
      }),
    );
    fake.requests.length = 0;
    if (Date.now() >= end || crashed) break;
    phase = 'idle';
    const idleEnd = Math.min(end, Date.now() + num('idle') * 1000);
    log(`run: round ${round}, idle for ${Math.round((idleEnd - Date.now()) / 1000)} s after ${requests} requests (RSS ${mb(rssOf(svc.pid))})`);
    while (Date.now() < idleEnd && !crashed) await sleep(Math.min(1000, idleEnd - Date.now()));
    if (!crashed) idleEnds.push({ s: Math.round((Date.now() - t0) / 1000), rss: rssOf(svc.pid) });
  }
  clearInterval(sampler);
  let exitCrash = crashed;
  if (!crashed) {
    process.kill(svc.pid, 'SIGTERM');
    const exit = await Promise.race([svc.exited, sleep(30_000).then(() => ({ code: null, signal: 'SIGKILL' as const }))]);
    exitCrash = crashOf(exit, svc.stderr());
    if (exitCrash) exitCrash = `at SIGTERM: ${exitCrash}: ${svc.stderr().slice(-1500)}`;
  }
  rmSync(dir, { recursive: true, force: true });
  // Least-squares slope of RSS at the end of the idle phases, in MB per hour: over all of them, and
  // over the second half (the first rounds include warm-up: the heap and SQLite's cache growing to size).
  const slopeOf = (points: Array<{ s: number; rss: number }>): number => {
    const n = points.length;
    if (n < 2) return 0;
    const mx = points.reduce((a, p) => a + p.s, 0) / n;
    const my = points.reduce((a, p) => a + p.rss, 0) / n;
    const sxx = points.reduce((a, p) => a + (p.s - mx) ** 2, 0);
    const slope = sxx > 0 ? points.reduce((a, p) => a + (p.s - mx) * (p.rss - my), 0) / sxx : 0;
    return Math.round(((slope * 3600) / 1024 / 1024) * 10) / 10;
  };
  const slopeAll = slopeOf(idleEnds);
  const slopeLate = slopeOf(idleEnds.slice(Math.floor(idleEnds.length / 2)));
  const rssValues = samples.map((x) => x.rss);
  results['run'] = {
    minutes: Math.round((Date.now() - t0) / 600) / 100,
    requests,
    requestErrors,
    errorExamples,
    crash: exitCrash,
    rssMin: Math.min(...rssValues),
    rssMax: Math.max(...rssValues),
    idleEnds,
    idleEndSlopeMBPerHour: slopeAll,
    idleEndSlopeSecondHalfMBPerHour: slopeLate,
    samples,
  };
  if (exitCrash) log(`run: CRASH ${exitCrash}`);
  log(
    `run: ${requests} requests, ${requestErrors} failed; RSS ${mb(Math.min(...rssValues))}..${mb(Math.max(...rssValues))}; ` +
      `at idle ends: ${idleEnds.map((p) => mb(p.rss)).join(', ')} (slope ${slopeAll} MB/h; second half ${slopeLate} MB/h)`,
  );
  if (exitCrash || requestErrors) failures++;
}

await fake.close();
results['finished'] = new Date().toISOString();
if (opt.out) writeFileSync(opt.out, JSON.stringify(results, null, 2));
log(`soak on Node ${process.version}: ${failures ? `${failures} FAILED` : 'no crash, no failed request'}`);
process.exit(failures ? 1 : 0);
