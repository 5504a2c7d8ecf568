/**
 * The service as it was at an earlier commit, built from that commit's own sources so that a
 * benchmark can compare "before" and "after" in one run, on the same machine, under the same load.
 * It lives in a detached git worktree in the temporary directory: the main checkout's files,
 * branch and index are never touched, and `remove()` takes the worktree away again.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

export interface Baseline {
  /** The commit's full id. */
  commit: string;
  /** The worktree's own bench server: it imports the worktree's dist/, not ours. */
  server: string;
  /** Whether that server runs a full GC on SIGUSR2; without it, its memory readings include garbage. */
  gcOnSignal: boolean;
  /** How long the build took, in seconds. */
  buildSeconds: number;
  /** Removes the worktree (idempotent). Synchronous, so a signal handler can call it too. */
  remove(): void;
}

export type BaselineBuild = { ok: true; baseline: Baseline } | { ok: false; reason: string };

const run = promisify(execFile);

/** The last lines of a failed command's output: enough to say why, short enough for a table cell. */
function why(err: unknown): string {
  const e = err as { code?: unknown; stderr?: unknown; stdout?: unknown; message?: unknown };
  const text = [e.stderr, e.stdout].filter((s): s is string => typeof s === 'string' && s.trim() !== '').join('\n') || String(e.message);
  return text.trim().split('\n').slice(-3).join(' ').replaceAll('|', '/');
}

/**
 * better-sqlite3 compiles on install, and node-gyp cannot download Node's headers offline: point it
 * at the running Node's own (as .ci/run does) unless a nodedir is already set.
 */
function withNodeHeaders(): NodeJS.ProcessEnv {
  const prefix = dirname(dirname(process.execPath));
  if (process.env['npm_config_nodedir'] || !existsSync(join(prefix, 'include/node/node.h'))) return process.env;
  return { ...process.env, npm_config_nodedir: prefix };
}

/** `npm <args>` in `dir`, in a process group of its own so that an interrupted benchmark can stop all of it. */
function npm(dir: string, args: string[], started: (child: ChildProcess) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: withNodeHeaders() });
    started(child);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      code === 0 ? resolve() : reject(Object.assign(new Error(`npm ${args.join(' ')}: ${signal ?? `exit ${code}`}`), { stderr: output })),
    );
  });
}

/**
 * Checks out `commit` into a temporary worktree and builds it with its own `npm run build`.
 * Never throws for a missing git, a checkout without history (a tarball, a shallow clone) or a
 * failed build: it says why instead, and the benchmark reports the baseline as unavailable.
 */
export async function buildBaseline(root: string, commit: string, progress: (line: string) => void): Promise<BaselineBuild> {
  const git = async (...args: string[]) => (await run('git', ['-C', root, ...args], { encoding: 'utf8' })).stdout.trim();
  try {
    await git('rev-parse', '--git-dir');
  } catch (err) {
    return { ok: false, reason: (err as { code?: unknown }).code === 'ENOENT' ? 'git is not installed' : `not a git checkout (${why(err)})` };
  }
  let sha: string;
  try {
    sha = await git('rev-parse', '--verify', '--quiet', `${commit}^{commit}`);
  } catch {
    return { ok: false, reason: `commit ${commit} is not in this checkout's history (a shallow clone?)` };
  }

  // The worktree goes one level below a fresh directory: git wants to create the directory itself.
  const parent = mkdtempSync(join(os.tmpdir(), 'agent-api-baseline-'));
  const dir = join(parent, 'tree');
  let removed = false;
  let building: ChildProcess | undefined;
  const remove = () => {
    if (removed) return;
    removed = true;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // A build still going would write its dist/ back into the removed directory.
    if (building?.exitCode === null && building.pid !== undefined) {
      try {
        process.kill(-building.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // The link goes first, by itself: nothing that cleans up the worktree may reach our node_modules through it.
    try {
      unlinkSync(join(dir, 'node_modules'));
    } catch {
      // never linked
    }
    if (existsSync(dir)) {
      try {
        execFileSync('git', ['-C', root, 'worktree', 'remove', '--force', dir], { stdio: 'pipe' });
      } catch (err) {
        process.stderr.write(`could not remove the baseline worktree ${dir}: ${why(err)}\n`);
      }
    }
    rmSync(parent, { recursive: true, force: true });
  };
  // An interrupted benchmark must not leave a worktree registered in the main checkout.
  const onSignal = (signal: NodeJS.Signals) => {
    remove();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    await git('worktree', 'add', '--detach', dir, sha);
    // The old build runs on today's packages while its own lockfile names only packages that today's
    // has too (a link, no install: fine while their major versions match); once a package it imports is gone (4f99fe9 still used
    // @fastify/helmet), it gets its own `npm ci` (a few minutes: better-sqlite3 compiles).
    const deps = (file: string) => Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { packages?: Record<string, unknown> }).packages ?? {});
    const today = new Set(deps(join(root, 'package-lock.json')));
    const missing = deps(join(dir, 'package-lock.json')).filter((d) => d.startsWith('node_modules/') && !today.has(d));
    if (missing.length === 0) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'), 'dir');
    else {
      progress(`installing ${commit}'s own packages (${missing.length} differ from today's, e.g. ${missing[0]}): npm ci`);
      await npm(dir, ['ci', '--no-audit', '--no-fund', '--silent'], (child) => (building = child));
    }
    const script = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts?.['build'];
    if (script === undefined) throw Object.assign(new Error(`${commit} has no build script`), { stderr: '' });
    progress(`building ${commit} in ${dir}: ${script}`);
    const started = Date.now();
    await npm(dir, ['run', 'build', '--silent'], (child) => (building = child));
    const server = join(dir, 'bench/servers/agent-server.mjs');
    if (!existsSync(server)) throw new Error(`${commit} has no bench/servers/agent-server.mjs`);
    return {
      ok: true,
      baseline: {
        commit: sha,
        server,
        gcOnSignal: readFileSync(server, 'utf8').includes('SIGUSR2'),
        buildSeconds: (Date.now() - started) / 1000,
        remove,
      },
    };
  } catch (err) {
    remove();
    return { ok: false, reason: `could not build ${commit}: ${why(err)}` };
  }
}
