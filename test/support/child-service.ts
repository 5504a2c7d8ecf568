/**
 * Runs the service as a real child process (`node --import tsx src/main.ts`, or `node dist/main.js`)
 * so tests can exercise what only a process has: .env loading, the generated key banner, node:cluster
 * workers, signals and exit codes. Every child started here is killed by `stopAllChildren()` (call it
 * from `after`) and, as a last resort, when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Absolute, so children started in a temp cwd still find everything. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SRC_MAIN = join(REPO_ROOT, 'src', 'main.ts');
export const DIST_MAIN = join(REPO_ROOT, 'dist', 'main.js');
/** tsx resolved from the repo (a bare `--import tsx` would resolve from the child's cwd). */
export const TSX_LOADER = import.meta.resolve('tsx');

/**
 * How long a start may take before the test fails: a safeguard, not a speed check. A cluster's
 * primary and workers each load the service under tsx; on a machine shared with other work a
 * start took more than 15 s (load average 6 on 2 cores).
 */
export const DEFAULT_HEALTH_TIMEOUT_MS = 60_000;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildOptions {
  /**
   * Environment on top of a minimal base (PATH, HOME, HOST=127.0.0.1, PORT, LOG_LEVEL=silent,
   * LLM_MAX_RETRIES=0, DATABASE_URL=sqlite:<fresh temp dir>/a.db). An `undefined` value removes a variable from the base.
   * Nothing else from the test process's environment leaks in (no stray LLM_* or VALID_API_KEYS).
   */
  env?: Record<string, string | undefined>;
  /** Working directory; default: a fresh temp dir (removed by stop()). */
  cwd?: string;
  /** `src` (default: node --import tsx src/main.ts) or `dist` (node dist/main.js). */
  entry?: 'src' | 'dist';
  /** Port to poll /health on (default: a free one); passed as PORT unless `env` sets or removes PORT. */
  port?: number;
  /** Wait for GET /health to answer 200 (default true). */
  waitForHealth?: boolean;
  healthTimeoutMs?: number;
}

export interface ChildService {
  proc: ChildProcess;
  pid: number;
  port: number;
  url: string;
  /** The temp dir holding the SQLite file (and the default cwd). */
  dir: string;
  stdout(): string;
  stderr(): string;
  /** stdout lines that parse as JSON objects (pino logs). */
  logLines(): Array<Record<string, unknown>>;
  /** Resolves once the process has exited (never rejects). */
  exited: Promise<ChildExit>;
  hasExited(): boolean;
  signal(sig: NodeJS.Signals): void;
  /** Waits for exit, failing (with the output) after `timeoutMs`. */
  waitForExit(timeoutMs?: number): Promise<ChildExit>;
  /** Resolves when `test` matches the accumulated output of `stream`. */
  waitForOutput(test: (text: string) => boolean, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
  /** Relative fetch with the given key (null: none). */
  fetch(path: string, init?: RequestInit & { key?: string | null; json?: unknown }): Promise<Response>;
  /** One request on a fresh TCP connection (no keep-alive), so cluster workers share the load. */
  request(path: string, options?: { method?: string; key?: string | null; json?: unknown }): Promise<RawResponse>;
  /** SIGKILLs the process group if still running, waits for exit, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON, typed as the caller expects (not validated). */
  json<T = unknown>(): T;
}

const children = new Set<ChildService>();

/** Kills every child this process started that is still running. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.stop()));
}

process.once('exit', () => {
  // Synchronous last resort: a failed test must never leave a server (or its workers) behind.
  for (const c of children) killGroup(c.pid, 'SIGKILL', !c.hasExited());
});

/** The child leads its own process group (detached), so this reaches its cluster workers too. */
function killGroup(pid: number, sig: NodeJS.Signals, leaderAlive: boolean): void {
  try {
    process.kill(-pid, sig);
  } catch {
    if (!leaderAlive) return; // the group is gone; never signal a pid that may have been reused
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function baseEnv(dir: string, port: number): Record<string, string> {
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    PORT: String(port),
    LOG_LEVEL: 'silent',
    DATABASE_URL: `sqlite:${join(dir, 'a.db')}`,
    LLM_MAX_RETRIES: '0',
  };
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  return env;
}

function rawRequest(port: number, path: string, options: { method?: string; key?: string | null; json?: unknown } = {}): Promise<RawResponse> {
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const headers: Record<string, string> = {};
  if (options.key) headers['x-api-key'] = options.key;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: <T>() => JSON.parse(text) as T });
        });
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`request ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves true if a new TCP connection to the port is accepted, false if it is refused. */
export function canConnect(port: number, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${port} neither succeeded nor was refused within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET') resolve(false);
      else reject(err);
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child's stdout and stderr as text so far; `watchers` run after every chunk and on `notify()`. */
export class OutputWatch {
  out = '';
  err = '';
  readonly watchers = new Set<() => void>();
  constructor(proc: ChildProcess) {
    proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
      this.out += s;
      this.notify();
    });
    proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
      this.err += s;
      this.notify();
    });
  }
  notify(): void {
    for (const w of [...this.watchers]) w();
  }
}

function spawnOnce(options: ChildOptions, port: number): ChildService {
  const ownDir = mkdtempSync(join(tmpdir(), 'agent-api-child-'));
  const cwd = options.cwd ?? ownDir;
  const env = baseEnv(ownDir, port);
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const args = options.entry === 'dist' ? [DIST_MAIN] : ['--import', TSX_LOADER, SRC_MAIN];
  const proc = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (proc.pid === undefined) throw new Error('could not spawn the service');
  const pid = proc.pid;

  const output = new OutputWatch(proc);

  let exit: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    proc.once('exit', (code, signal) => {
      exit = { code, signal };
      output.notify();
      resolve(exit);
    });
  });
  const describe = () => `\n--- stdout ---\n${output.out.slice(-4000)}\n--- stderr ---\n${output.err.slice(-4000)}`;

  let stopping: Promise<void> | undefined;
  const url = `http://127.0.0.1:${port}`;
  const child: ChildService = {
    proc,
    pid,
    port,
    url,
    dir: ownDir,
    stdout: () => output.out,
    stderr: () => output.err,
    logLines: () =>
      output.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    exited,
    hasExited: () => exit !== undefined,
    signal: (sig) => {
      if (exit === undefined) proc.kill(sig);
    },
    async waitForExit(timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`process ${pid} did not exit within ${timeoutMs} ms${describe()}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    waitForOutput(test, stream = 'stdout', timeoutMs = 15_000) {
      const text = () => (stream === 'stdout' ? output.out : output.err);
      if (test(text())) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (test(text())) done(resolve);
          else if (exit !== undefined) done(() => reject(new Error(`process exited (${JSON.stringify(exit)}) before the expected ${stream}${describe()}`)));
        };
        const done = (fn: () => void) => {
          clearTimeout(timer);
          output.watchers.delete(check);
          fn();
        };
        const timer = setTimeout(() => done(() => reject(new Error(`expected ${stream} not seen within ${timeoutMs} ms${describe()}`))), timeoutMs);
        output.watchers.add(check);
      });
    },
    fetch(path, init = {}) {
      const { key = null, json, headers, ...rest } = init;
      const h = new Headers(headers);
      if (key !== null) h.set('x-api-key', key);
      if (json !== undefined) h.set('content-type', 'application/json');
      return fetch(url + path, { ...rest, headers: h, ...(json !== undefined ? { method: rest.method ?? 'POST', body: JSON.stringify(json) } : {}) });
    },
    request: (path, opts) => rawRequest(port, path, opts),
    stop() {
      return (stopping ??= (async () => {
        // After the primary exited this still reaches any worker it left behind.
        killGroup(pid, 'SIGKILL', exit === undefined);
        await exited;
        children.delete(child);
        rmSync(ownDir, { recursive: true, force: true });
      })());
    },
  };
  children.add(child);
  return child;
}

async function waitForHealth(child: ChildService, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.hasExited()) {
      const { code, signal } = await child.exited;
      throw new Error(`service exited (code ${code}, signal ${signal}) before answering /health\n--- stderr ---\n${child.stderr()}`);
    }
    try {
      const res = await rawRequest(child.port, '/health');
      if (res.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      throw new Error(`service did not answer /health within ${timeoutMs} ms\n--- stdout ---\n${child.stdout()}\n--- stderr ---\n${child.stderr()}`);
    }
    await sleep(100);
  }
}

/**
 * Starts the service and (unless `waitForHealth: false`) waits until it answers /health. A start
 * that lost its free port to another process (EADDRINUSE) is retried on a new one.
 */
export async function startChild(options: ChildOptions = {}): Promise<ChildService> {
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const child = spawnOnce(options, port);
    if (options.waitForHealth === false) return child;
    try {
      await waitForHealth(child, options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS);
      return child;
    } catch (err) {
      await child.stop();
      if (attempt < 3 && options.port === undefined && /EADDRINUSE/.test(child.stderr())) continue;
      throw err;
    }
  }
}

/** Every generated key (aak_…) printed in `stderr`; main.ts prints one when VALID_API_KEYS is unset. */
export function generatedKeys(stderr: string): string[] {
  return [...stderr.matchAll(/\baak_[A-Za-z0-9_-]+/g)].map((m) => m[0]);
}

/** The JSON payloads of an SSE body's `data:` lines, in order (keep-alive comments skipped). */
export function sseEvents(text: string): Array<{ type: string; [k: string]: unknown }> {
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as { type: string });
}
