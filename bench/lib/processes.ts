import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';

export interface Server {
  name: string;
  url: string;
  pid: number;
  /** Resident memory of the process and all its descendants (cluster workers), in bytes. */
  rss(): number;
  /** CPU time (user + system) the process and its live descendants have used so far, in ms. */
  cpu(): number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function children(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function treeRss(pid: number): number {
  return rssOf(pid) + children(pid).reduce((sum, c) => sum + treeRss(c), 0);
}

/** Linux's USER_HZ, the unit of /proc/PID/stat's times: 100 on every mainstream build. */
const TICK_MS = 10;

function cpuOf(pid: number): number {
  try {
    // Fields after the command name, which is in parentheses and may itself hold spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

export function treeCpu(pid: number): number {
  return cpuOf(pid) + children(pid).reduce((sum, c) => sum + treeCpu(c), 0);
}

async function waitForHttp(url: string, proc: ChildProcess, output: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode} before answering:\n${output()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no answer from ${url} within ${timeoutMs} ms:\n${output()}`);
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  port: number;
  /** Path that answers once the server is up. */
  readyPath?: string;
  /** Keep stdout (for servers that print their URL); everything else goes to /dev/null, as in production. */
  captureStdout?: boolean;
}

export async function startServer(o: StartOptions): Promise<Server & { stdout: () => string }> {
  let out = '';
  const proc = spawn(o.command, o.args, {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...o.env },
    stdio: ['ignore', o.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    detached: true,
  });
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const url = `http://127.0.0.1:${o.port}`;
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      process.kill(-proc.pid!, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForHttp(url + (o.readyPath ?? '/health'), proc, () => out);
  } catch (err) {
    await stop();
    throw new Error(`${o.name}: ${(err as Error).message}`, { cause: err });
  }
  return { name: o.name, url, pid: proc.pid!, rss: () => treeRss(proc.pid!), cpu: () => treeCpu(proc.pid!), stop, stdout: () => out };
}

/** Sends a signal to a process and all its descendants (cluster workers). */
export function signalTree(pid: number, signal: NodeJS.Signals): void {
  for (const child of children(pid)) signalTree(child, signal);
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Samples a server's tree RSS every 100 ms; `stop()` gives the peak seen. */
export function sampleRss(server: Server): { stop(): number } {
  let peak = server.rss();
  const timer = setInterval(() => (peak = Math.max(peak, server.rss())), 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, server.rss());
    },
  };
}
