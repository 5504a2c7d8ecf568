/**
 * The Dockerfile's build and runtime steps, replayed without a container engine (none here, and
 * base images cannot be pulled): the build context (tracked files minus .dockerignore) is copied to
 * a temp dir, the build stage's RUN steps run there, the runtime stage's COPY --from=build lines
 * assemble the runtime tree, and its CMD starts as an unprivileged user until its HEALTHCHECK passes.
 *
 * The `npm ci` step is replaced by a copy of this checkout's node_modules (same lockfile, and
 * better-sqlite3 already compiled for the running Node), because compiling better-sqlite3 takes
 * about three minutes here; DEPLOY_TEST_NPM_CI=1 runs the Dockerfile's own `npm ci` step instead.
 * The apt-get step is not replayed: it installs the compiler only that npm ci step needs.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.js';
import { freePort, OutputWatch, REPO_ROOT } from './support/child-service.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { instructions, parseDockerfile, stageEnv, type Instruction, type Stage } from './support/dockerfile.js';

const run = promisify(execFile);
const stages = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const build = stages[0]!;
const runtime = stages.at(-1)!;
const workdir = (stage: Stage) => instructions(stage, 'WORKDIR').at(-1)?.args ?? '/';
const KEY = 'deploy-test-key';

/** Docker's .dockerignore semantics for the plain patterns used here: a match on a path or any of its parent folders. */
function dockerIgnored(patterns: string[], path: string): boolean {
  const regexes = patterns.map(
    (p) =>
      new RegExp(
        `^${p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')}$`,
      ),
  );
  const parts = path.split('/');
  return parts.some((_, i) => regexes.some((r) => r.test(parts.slice(0, i + 1).join('/'))));
}

function buildContext(): string[] {
  const patterns = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  assert.ok(!patterns.some((p) => p.startsWith('!') || p.includes('**')), 'this replay handles plain patterns only');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && existsSync(join(REPO_ROOT, f)));
  return files.filter((f) => !dockerIgnored(patterns, f));
}

/** `COPY [--from=x] [--chown=…] src… dest` split into its parts. */
function copyParts(ins: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = ins.exec ?? ins.args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** The uid and gid the runtime stage's process gets here: nobody's when running as root, else ours. */
function unprivileged(): { uid: number; gid: number; as: string[] } {
  if (process.getuid?.() !== 0) return { uid: process.getuid!(), gid: process.getgid!(), as: [] };
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
  return { uid, gid, as: ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'] };
}

const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('Dockerfile', () => {
  test('two stages on node:24-slim; the runtime runs `node dist/main.js` as a non-root user, checks /ready, keeps the data folder in a volume', () => {
    assert.equal(stages.length, 2);
    for (const stage of stages) assert.equal(stage.image, 'node:24-slim');
    const user = instructions(runtime, 'USER').at(-1)?.args;
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user} is not root`);
    assert.deepEqual(instructions(runtime, 'CMD').at(-1)?.exec, ['node', 'dist/main.js']);
    assert.deepEqual(instructions(runtime, 'ENTRYPOINT'), [], 'no wrapper between the runtime and node');
    const health = instructions(runtime, 'HEALTHCHECK').at(-1);
    assert.ok(
      health?.exec?.some((a) => a.includes("/ready'")),
      'HEALTHCHECK requests /ready',
    );
    assert.equal(health?.exec?.[0], 'node', 'no curl in the slim image');
    // The default DATABASE_URL is relative to the working directory: its folder is the volume.
    const sqlite = loadConfig({}).DATABASE_URL.replace(/^sqlite:/, '');
    const dataDir = posix.dirname(posix.resolve(workdir(runtime), sqlite));
    assert.deepEqual(instructions(runtime, 'VOLUME').at(-1)?.exec, [dataDir]);
  });

  test(
    'its build and runtime steps, replayed in a clean copy, give a pruned tree that starts as an unprivileged user and passes its HEALTHCHECK',
    // A safeguard: the real npm ci compiles better-sqlite3, which takes minutes here.
    { timeout: process.env['DEPLOY_TEST_NPM_CI'] === '1' ? 900_000 : 300_000 },
    async (t) => {
      const root = mkdtempSync(join(tmpdir(), 'agent-api-image-'));
      temps.push(root);
      chmodSync(root, 0o755); // the unprivileged user must reach the runtime tree inside
      const buildDir = join(root, 'build');
      const runtimeDir = join(root, 'runtime');
      const context = buildContext();
      assert.ok(!context.some((f) => f.startsWith('node_modules/') || f === '.env'));

      // The build stage, instruction by instruction.
      const inBuild = (p: string) => join(buildDir, posix.relative(workdir(build), posix.resolve(workdir(build), p)));
      const replayed: string[] = [];
      for (const ins of build.instructions) {
        if (ins.name === 'WORKDIR') mkdirSync(buildDir, { recursive: true });
        else if (ins.name === 'COPY') {
          const { sources, dest } = copyParts(ins);
          const wanted = sources.includes('.') ? context : context.filter((f) => sources.includes(f));
          assert.equal(wanted.length, sources.includes('.') ? context.length : sources.length, `COPY ${ins.args}: sources in the context`);
          for (const f of wanted) {
            const to = sources.includes('.') ? join(inBuild(dest), f) : join(inBuild(dest), posix.basename(f));
            mkdirSync(dirname(to), { recursive: true });
            copyFileSync(join(REPO_ROOT, f), to);
          }
        } else if (ins.name === 'RUN' && ins.args.startsWith('apt-get')) {
          replayed.push('apt-get: not replayed');
        } else if (ins.name === 'RUN' && /\bnpm ci\b/.test(ins.args)) {
          if (process.env['DEPLOY_TEST_NPM_CI'] === '1') {
            const env = { ...process.env, npm_config_prefer_offline: 'true', npm_config_nodedir: dirname(dirname(process.execPath)) };
            await run('sh', ['-c', ins.args], { cwd: buildDir, env, maxBuffer: 64 << 20 });
            replayed.push('npm ci: replayed');
          } else {
            await run('cp', ['-a', join(REPO_ROOT, 'node_modules'), join(buildDir, 'node_modules')]);
            replayed.push("npm ci: this checkout's node_modules copied instead");
          }
        } else if (ins.name === 'RUN') {
          await run('sh', ['-c', ins.args], { cwd: buildDir, maxBuffer: 64 << 20 });
          replayed.push(`${ins.args}: replayed`);
        } else assert.fail(`build stage: ${ins.name} is not replayed by this test`);
      }
      t.diagnostic(replayed.join('; '));
      assert.ok(replayed.some((r) => r.includes('npm run build') && r.includes('npm prune --omit=dev')));

      // Production dependencies only: no devDependency survived the prune, the native module did.
      const pkg = JSON.parse(readFileSync(join(buildDir, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
      const leftover = Object.keys(pkg.devDependencies).filter((d) => existsSync(join(buildDir, 'node_modules', d)));
      assert.deepEqual(leftover, [], 'devDependencies left after the prune');
      assert.ok(existsSync(join(buildDir, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')));

      // The runtime stage: only what it copies from the build stage.
      const user = unprivileged();
      const env: Record<string, string> = { ...stageEnv(runtime) };
      const inRuntime = (p: string) => join(runtimeDir, posix.relative(workdir(runtime), posix.resolve(workdir(runtime), p)));
      for (const ins of runtime.instructions) {
        if (ins.name === 'WORKDIR') mkdirSync(runtimeDir, { recursive: true });
        else if (ins.name === 'COPY') {
          const { from, sources, dest } = copyParts(ins);
          assert.equal(from, build.name, `COPY ${ins.args}: only from the build stage`);
          for (const src of sources) await run('cp', ['-a', inBuild(src), inRuntime(dest)]);
        } else if (ins.name === 'RUN') {
          // The image's user becomes ours (nobody when this runs as root); /app becomes the runtime tree.
          const userName = instructions(runtime, 'USER').at(-1)!.args;
          const script = ins.args.replaceAll(`${userName}:${userName}`, `${user.uid}:${user.gid}`).replaceAll(workdir(runtime), runtimeDir);
          await run('sh', ['-c', script]);
        }
      }
      assert.deepEqual(execFileSync('ls', [runtimeDir], { encoding: 'utf8' }).trim().split('\n').sort(), ['data', 'dist', 'node_modules', 'package.json']);
      const dataDir = inRuntime(instructions(runtime, 'VOLUME').at(-1)!.exec![0]!);
      assert.equal(statSync(dataDir).uid, user.uid, 'the data volume belongs to the runtime user');

      // `node` as the runtime user can run it: the test's own Node may live under a private home.
      let node = process.execPath;
      if (user.as.length > 0 && spawnSync(user.as[0]!, [...user.as.slice(1), node, '-e', '0']).status !== 0) {
        node = join(root, 'bin', 'node');
        mkdirSync(dirname(node), { recursive: true });
        copyFileSync(process.execPath, node);
        chmodSync(node, 0o755);
      }
      const asUser = (argv: string[]) => {
        const [cmd, ...args] = argv[0] === 'node' ? [node, ...argv.slice(1)] : argv;
        return user.as.length > 0 ? { cmd: user.as[0]!, args: [...user.as.slice(1), cmd!, ...args] } : { cmd: cmd!, args };
      };

      const fake: FakeLlm = await startFakeLlm();
      fake.setDefault({ text: 'hello from the image' });
      const port = await freePort();
      Object.assign(env, {
        PORT: String(port),
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        VALID_API_KEYS: KEY,
        LLM_BASE_URL: fake.url,
        LLM_MODEL: 'fake-model',
        LLM_MAX_RETRIES: '0',
      });
      const cmd = asUser(instructions(runtime, 'CMD').at(-1)!.exec!);
      const proc = spawn(cmd.cmd, cmd.args, { cwd: runtimeDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const output = new OutputWatch(proc);
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      try {
        // The image's own HEALTHCHECK command, as the runtime user, until it passes (a safeguard, not a speed check).
        const check = asUser(instructions(runtime, 'HEALTHCHECK').at(-1)!.exec!);
        const deadline = Date.now() + 60_000;
        for (;;) {
          assert.equal(proc.exitCode, null, `the service exited\n${output.err}\n${output.out}`);
          if (spawnSync(check.cmd, check.args, { env, timeout: 10_000 }).status === 0) break;
          assert.ok(Date.now() < deadline, `HEALTHCHECK did not pass within a minute\n${output.err}\n${output.out}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const ready = await fetch(`http://127.0.0.1:${port}/ready`);
        assert.equal(ready.status, 200);
        assert.equal(((await ready.json()) as { status: string }).status, 'ready');

        // A turn through the pruned tree: the model's client, the store and its native module.
        const chat = await fetch(`http://127.0.0.1:${port}/chat`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': KEY },
          body: JSON.stringify({ message: 'hi' }),
        });
        assert.equal(chat.status, 200);
        assert.equal(((await chat.json()) as { reply: string }).reply, 'hello from the image');

        const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
        assert.equal(Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]), user.uid);
        assert.notEqual(user.uid, 0, 'not root');
        assert.match(status, /^CapEff:\s+0+$/m, 'no capabilities left');
        const db = join(dataDir, posix.basename(loadConfig({}).DATABASE_URL));
        assert.equal(statSync(db).uid, user.uid, 'the default SQLite file lives in the volume');

        proc.kill('SIGTERM');
        assert.equal(await exited, 0, 'SIGTERM reaches node and it stops cleanly');
      } finally {
        proc.kill('SIGKILL');
        await fake.close();
      }
    },
  );
});
