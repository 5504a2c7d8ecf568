/**
 * The `agent-api` command (src/cli/index.ts) as a child process: `chat` against an in-process service on
 * the fake model (streaming, tool lines, sessions, env settings, errors, usage, Ctrl+C), `runs get|follow|cancel`
 * (following resumes by itself after a dropped connection; Ctrl+C stops following, not the run), and `serve`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Run } from '../src/client/index.js';
import { freePort, OutputWatch, REPO_ROOT, TSX_LOADER } from './support/child-service.js';
import { KEY_A, KEY_B, startService, waitFor, type TestService } from './support/service.js';

const CLI = join(REPO_ROOT, 'src', 'cli', 'index.ts');

interface CliRun {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when `test` matches the output so far (fails if the process exits first). */
  waitFor(test: (out: string, err: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Exit code (or 128 + signal number style name) once exited, failing after `timeoutMs`. */
  exit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/** Runs the CLI with a minimal environment (nothing of ours leaks in) plus `env`. */
function cli(args: string[], env: Record<string, string> = {}): CliRun {
  const base: Record<string, string> = {};
  for (const k of ['PATH', 'HOME', 'TMPDIR', 'LANG']) if (process.env[k] !== undefined) base[k] = process.env[k];
  const proc = spawn(process.execPath, ['--import', TSX_LOADER, CLI, ...args], {
    cwd: REPO_ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(proc);
  const output = new OutputWatch(proc);
  let result: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  // 'close', not 'exit': by then stdout and stderr have been read to the end.
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('close', (code, signal) => {
      result = { code, signal };
      running.delete(proc);
      output.notify();
      resolve(result);
    });
  });
  const describeOutput = () => `\n--- stdout ---\n${output.out}\n--- stderr ---\n${output.err}`;
  return {
    proc,
    stdout: () => output.out,
    stderr: () => output.err,
    waitFor(cond, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (cond(output.out, output.err)) done(resolve);
          else if (result) done(() => reject(new Error(`the CLI exited (${JSON.stringify(result)}) before the expected output${describeOutput()}`)));
        };
        const done = (fn: () => void) => {
          clearTimeout(timer);
          output.watchers.delete(check);
          fn();
        };
        const timer = setTimeout(() => done(() => reject(new Error(`expected output not seen within ${timeoutMs} ms${describeOutput()}`))), timeoutMs);
        output.watchers.add(check);
        check();
      });
    },
    async exit(timeoutMs = 15_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`the CLI did not exit within ${timeoutMs} ms${describeOutput()}`)), timeoutMs);
      });
      try {
        return await Promise.race([closed, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

after(() => {
  for (const proc of running) {
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/** The session id from the CLI's "continue with" line. */
function sessionIdIn(stderr: string): string {
  const m = /continue with: agent-api chat --session (\S+)/.exec(stderr);
  assert.ok(m, `no session hint in stderr:\n${stderr}`);
  return m[1]!;
}

describe('agent-api chat', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(() => svc.close());

  test('streams the reply to stdout, tool calls and the session id to stderr; --session continues', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_cli1', name: 'calculator', arguments: { expression: '2+2' } }] }, { text: 'It is 4. ✓' });
    const run = cli(['chat', 'What is 2+2?', '--url', svc.url, '--key', KEY_A]);
    assert.deepEqual(await run.exit(), { code: 0, signal: null }, run.stderr());
    assert.equal(run.stdout(), 'It is 4. ✓');
    assert.match(run.stderr(), /^⚙ calculator\(\{"expression":"2\+2"\}\) → \{"result":4\}$/m);
    const id = sessionIdIn(run.stderr());
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.doesNotMatch(run.stderr(), /error/i);

    // The next turn, on the same session, with the URL and key from the environment.
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'You asked about 2+2.' });
    const next = cli(['chat', '--session', id, 'What did I ask?'], { AGENT_API_URL: svc.url, AGENT_API_KEY: KEY_A });
    assert.deepEqual(await next.exit(), { code: 0, signal: null }, next.stderr());
    assert.equal(next.stdout(), 'You asked about 2+2.');
    assert.equal(sessionIdIn(next.stderr()), id);
    const sent = JSON.stringify(svc.fake.requests[first]!.body.messages);
    assert.ok(sent.includes('What is 2+2?') && sent.includes('It is 4. ✓') && sent.includes('What did I ask?'), sent);
  });

  test('a wrong key: exit 1 with one clear line', async () => {
    const run = cli(['chat', 'hello'], { AGENT_API_URL: svc.url, AGENT_API_KEY: 'wrong-key' });
    assert.equal((await run.exit()).code, 1);
    assert.equal(run.stdout(), '');
    const lines = run.stderr().trimEnd().split('\n');
    assert.equal(lines.length, 1, run.stderr());
    assert.match(lines[0]!, /^error: 401 unauthorized: The X-API-Key header holds an unknown key \(request id \S+\)$/);
  });

  test('a model failure mid-turn: exit 1, the error and the session to continue', async () => {
    svc.fake.enqueue({ error: { status: 500 } });
    const run = cli(['chat', 'fail', '--session', 'cli-upstream', '-u', svc.url, '-k', KEY_A]);
    assert.equal((await run.exit()).code, 1);
    assert.match(run.stderr(), /^error: upstream_error: /m);
    assert.equal(sessionIdIn(run.stderr()), 'cli-upstream');
  });

  test('nothing listening: exit 1 naming the URL', async () => {
    const port = await freePort();
    const run = cli(['chat', 'hello', '--url', `http://127.0.0.1:${port}`, '--key', KEY_A]);
    assert.equal((await run.exit()).code, 1);
    assert.match(run.stderr(), new RegExp(`^error: Could not reach http://127\\.0\\.0\\.1:${port}/chat/stream: .*ECONNREFUSED`));
  });

  test('usage: a missing message, an unknown option or no key exit 2; --help exits 0', async () => {
    const env = { AGENT_API_URL: svc.url, AGENT_API_KEY: KEY_A };
    const [missing, unknown, noKey, none, help] = [
      cli(['chat', '--session', 'x'], env),
      cli(['chat', 'hi', '--bogus'], env),
      cli(['chat', 'hi'], { AGENT_API_URL: svc.url }),
      cli([]),
      cli(['--help']),
    ];
    const before = svc.fake.requests.length;
    for (const [run, pattern] of [
      [missing, /chat needs a message/],
      [unknown, /--bogus/],
      [noKey, /AGENT_API_KEY/],
      [none, /no command/],
    ] as const) {
      assert.equal((await run.exit()).code, 2, run.stderr());
      assert.match(run.stderr(), pattern);
      assert.match(run.stderr(), /Usage:\n {2}agent-api chat "message"/);
      assert.equal(run.stdout(), '');
    }
    assert.equal((await help.exit()).code, 0);
    assert.match(help.stdout(), /Usage:/);
    assert.equal(svc.fake.requests.length, before, 'nothing was sent');
  });

  test('Ctrl+C mid-stream: the model is hung up on, exit 130 with the session id', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'x'.repeat(120), delayMs: 150 }); // 30 chunks, 4.5 s
    const run = cli(['chat', 'talk for a while', '--url', svc.url, '--key', KEY_A]);
    await run.waitFor((out) => out.length > 0);
    run.proc.kill('SIGINT');
    const { code, signal } = await run.exit();
    assert.deepEqual({ code, signal }, { code: 130, signal: null }, run.stderr());
    await svc.fake.waitForAbort(first);
    assert.equal(svc.fake.requests[first]!.finished, false);
    assert.doesNotMatch(run.stderr(), /\n\s+at /, 'no stack trace');
    const runId = /^interrupted: run (run_\w+) cancelled$/m.exec(run.stderr())?.[1];
    assert.ok(runId, run.stderr());
    const id = sessionIdIn(run.stderr());
    assert.ok(run.stdout().length < 120);
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    const record = (await (await svc.request(`/runs/${runId}`)).json()) as Run;
    assert.equal(record.status, 'cancelled', 'Ctrl+C on chat cancels its run');

    // The partial reply was kept, so the session can go on.
    const res = await svc.request(`/sessions/${id}`);
    assert.equal(res.status, 200);
    const messages = ((await res.json()) as { messages: Array<{ role: string; interrupted?: boolean }> }).messages;
    assert.deepEqual(messages.at(-1), { ...messages.at(-1), role: 'assistant', interrupted: true });
  });
});

describe('agent-api runs', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(() => svc.close());
  const env = () => ({ AGENT_API_URL: svc.url, AGENT_API_KEY: KEY_A });

  /** Starts a run in the background (POST /runs) and waits until the model has been asked. */
  async function backgroundRun(message: string): Promise<string> {
    const n = svc.fake.requests.length;
    const res = await svc.request('/runs', { method: 'POST', json: { message } });
    assert.equal(res.status, 202);
    const { run_id } = (await res.json()) as { run_id: string };
    await svc.fake.waitForRequests(n + 1);
    return run_id;
  }

  async function runRecord(id: string): Promise<Run> {
    const res = await svc.request(`/runs/${id}`);
    assert.equal(res.status, 200);
    return (await res.json()) as Run;
  }

  test('runs get prints the run as JSON', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_rg', name: 'calculator', arguments: { expression: '3*3' } }] }, { text: 'Nine.' });
    const { run_id } = (await (await svc.chat({ message: '3*3?' })).json()) as { run_id: string };
    const run = cli(['runs', 'get', run_id], env());
    assert.deepEqual(await run.exit(), { code: 0, signal: null }, run.stderr());
    assert.equal(run.stderr(), '');
    assert.deepEqual(JSON.parse(run.stdout()), await runRecord(run_id));
    assert.equal(run.stdout(), `${JSON.stringify(await runRecord(run_id), null, 2)}\n`, 'pretty-printed');
  });

  test('runs follow streams a run like chat (tokens to stdout, tools to stderr); --after N starts after event N', async () => {
    svc.fake.enqueue(
      { toolCalls: [{ id: 'call_rf', name: 'calculator', arguments: { expression: '2+3' } }] },
      { text: 'It is five, you see.', chunks: ['It ', 'is ', 'five, ', 'you ', 'see.'], delayMs: 60 },
    );
    const runId = await backgroundRun('2+3?');
    const run = cli(['runs', 'follow', runId, '--url', svc.url, '--key', KEY_A]);
    assert.deepEqual(await run.exit(), { code: 0, signal: null }, run.stderr());
    assert.equal(run.stdout(), 'It is five, you see.');
    assert.match(run.stderr(), /^⚙ calculator\(\{"expression":"2\+3"\}\) → \{"result":5\}$/m);
    assert.equal(sessionIdIn(run.stderr()), (await runRecord(runId)).session_id);

    // Events: 1 start, 2 step_start, 3-4 tool_call_delta, 5 tool_call, 6 step_finish, 7 tool_result,
    // 8 step_start, 9.. tokens: after 9, the first token is skipped.
    const rest = cli(['runs', 'follow', runId, '--after', '9'], env());
    assert.deepEqual(await rest.exit(), { code: 0, signal: null }, rest.stderr());
    assert.equal(rest.stdout(), 'is five, you see.');
    assert.doesNotMatch(rest.stderr(), /⚙/);
  });

  test('runs follow resumes by itself when the service drops the connection', async () => {
    const chunks = Array.from({ length: 60 }, (_, i) => `t${i} `);
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 100 }); // 6 s: the CLI starts well before
    const n = svc.fake.requests.length;
    const runId = await backgroundRun('talk');
    const run = cli(['runs', 'follow', runId], env());
    await run.waitFor((out) => out.length > 0);
    assert.equal(svc.server.activeRuns, 1, 'dropped while the run goes on');
    svc.server.app.server.closeAllConnections();
    assert.deepEqual(await run.exit(), { code: 0, signal: null }, run.stderr());
    assert.equal(run.stdout(), chunks.join(''), 'nothing missed, nothing twice');
    assert.equal(svc.fake.requests[n]!.aborted, false);
  });

  test('Ctrl+C on runs follow stops following, not the run: exit 130 with how to resume', async () => {
    const chunks = Array.from({ length: 60 }, (_, i) => `s${i} `);
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 100 }); // 6 s: the CLI starts well before
    const n = svc.fake.requests.length;
    const runId = await backgroundRun('talk');
    const run = cli(['runs', 'follow', runId], env());
    await run.waitFor((out) => out.length > 0);
    assert.equal(svc.server.activeRuns, 1, 'interrupted while the run goes on');
    run.proc.kill('SIGINT');
    assert.deepEqual(await run.exit(), { code: 130, signal: null }, run.stderr());
    const resume = new RegExp(`^stopped following run ${runId} \\(it goes on\\) — resume with: agent-api runs follow ${runId} --after (\\d+)$`, 'm').exec(
      run.stderr(),
    );
    assert.ok(resume, run.stderr());
    assert.doesNotMatch(run.stderr(), /\n\s+at /, 'no stack trace');
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end', 15_000);
    const record = await runRecord(runId);
    assert.equal(record.status, 'completed');
    assert.equal(record.reply, chunks.join(''));
    assert.equal(svc.fake.requests[n]!.aborted, false, 'the model was not cut off');

    // Resuming where it stopped prints the rest: the two parts are the whole reply.
    const rest = cli(['runs', 'follow', runId, '--after', resume[1]!], env());
    assert.equal((await rest.exit()).code, 0, rest.stderr());
    assert.equal(run.stdout() + rest.stdout(), chunks.join(''));
  });

  test('runs cancel stops a running run; again, it says the run had ended; follow then exits 1 with the error', async () => {
    svc.fake.enqueue({ text: 'slow slow slow slow', chunks: ['slow ', 'slow ', 'slow ', 'slow'], delayMs: 300 });
    const n = svc.fake.requests.length;
    const runId = await backgroundRun('take your time');
    const run = cli(['runs', 'cancel', runId], env());
    assert.deepEqual(await run.exit(), { code: 0, signal: null }, run.stderr());
    assert.equal(run.stdout(), `run ${runId}: cancelling\n`);
    await svc.fake.waitForAbort(n);
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    assert.equal((await runRecord(runId)).status, 'cancelled');

    const again = cli(['runs', 'cancel', runId], env());
    assert.equal((await again.exit()).code, 0, again.stderr());
    assert.equal(again.stdout(), `run ${runId} had already ended: cancelled\n`);

    const follow = cli(['runs', 'follow', runId], env());
    assert.equal((await follow.exit()).code, 1);
    assert.match(follow.stderr(), /^error: cancelled: The run was cancelled \(the reply was cut short\)$/m);
  });

  test('an unknown run, or another key’s: exit 1 with one line', async () => {
    svc.fake.enqueue({ text: 'mine' });
    const { run_id } = (await (await svc.chat({ message: 'private' })).json()) as { run_id: string };
    for (const args of [
      ['get', 'run_nope'],
      ['follow', 'run_nope'],
      ['cancel', 'run_nope'],
      ['get', run_id],
    ]) {
      const run = cli(['runs', ...args], { AGENT_API_URL: svc.url, AGENT_API_KEY: args[1] === run_id ? KEY_B : KEY_A });
      assert.equal((await run.exit()).code, 1, run.stderr());
      assert.equal(run.stdout(), '');
      const lines = run.stderr().trimEnd().split('\n');
      assert.equal(lines.length, 1, run.stderr());
      assert.match(lines[0]!, /^error: 404 run_not_found: No run '\S+' \(request id \S+\)$/);
    }
  });

  test('usage: a missing or unknown subcommand, a missing or extra run id, a bad --after exit 2; runs --help exits 0', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['runs'], /runs needs a subcommand/],
      [['runs', 'bogus', 'run_x'], /unknown runs subcommand: bogus/],
      [['runs', 'get'], /runs get needs a run id/],
      [['runs', 'cancel', 'run_a', 'run_b'], /takes one run id/],
      [['runs', 'follow', 'run_x', '--after', 'x'], /--after needs an event number/],
      [['runs', 'follow', 'run_x', '--after=-1'], /--after needs an event number/],
      [['runs', 'get', 'run_x', '--after', '2'], /--after is an option of runs follow/],
      [['runs', 'get', 'run_x', '--bogus'], /--bogus/],
    ];
    const runs = cases.map(([args]) => cli(args, env()));
    for (const [i, run] of runs.entries()) {
      assert.equal((await run.exit()).code, 2, run.stderr());
      assert.match(run.stderr(), cases[i]![1]);
      assert.match(run.stderr(), /Usage:\n[^]*agent-api runs follow RUN_ID \[--after N\]/);
      assert.equal(run.stdout(), '');
    }
    const help = cli(['runs', '--help']);
    assert.equal((await help.exit()).code, 0);
    assert.match(help.stdout(), /runs follow/);
  });
});

describe('agent-api serve', () => {
  test('starts the service like npm start and stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-api-cli-'));
    try {
      const port = await freePort();
      const run = cli(['serve'], {
        HOST: '127.0.0.1',
        PORT: String(port),
        VALID_API_KEYS: 'serve-key',
        LOG_LEVEL: 'silent',
        DATABASE_URL: `sqlite:${join(dir, 'a.db')}`,
      });
      const deadline = Date.now() + 15_000;
      for (;;) {
        const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        if (res?.status === 200) {
          assert.equal(((await res.json()) as { status: string }).status, 'healthy');
          break;
        }
        assert.ok(run.proc.exitCode === null, `serve exited early:\n${run.stderr()}`);
        assert.ok(Date.now() < deadline, `no /health within 15 s:\n${run.stderr()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The key from the environment is the one accepted (no generated key).
      const sessions = await fetch(`http://127.0.0.1:${port}/sessions`, { headers: { 'x-api-key': 'serve-key' } });
      assert.equal(sessions.status, 200);
      run.proc.kill('SIGTERM');
      assert.deepEqual(await run.exit(), { code: 0, signal: null }, run.stderr());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('agent-api keys', () => {
  const ADMIN = 'cli-admin-key-0123456789';
  let svc: TestService;
  before(async () => {
    svc = await startService({ env: { ADMIN_API_KEY: ADMIN } });
  });
  after(() => svc.close());

  test('create prints the key once (stdout), list shows a table without it, revoke refuses it at once', async () => {
    const create = cli(['keys', 'create', '--name', 'ci bot', '--rate-limit', '30', '--token-budget', '5000', '--url', svc.url], { ADMIN_API_KEY: ADMIN });
    assert.deepEqual(await create.exit(), { code: 0, signal: null }, create.stderr());
    const key = create.stdout().trim();
    assert.match(key, /^aak_[A-Za-z0-9_-]{32}$/);
    const id = /created (key_[0-9a-f]{32}) \(ci bot\)/.exec(create.stderr())?.[1];
    assert.ok(id, create.stderr());
    assert.equal((await svc.request('/sessions', { key })).status, 200, 'the printed key works');

    const list = cli(['keys', 'list', '--url', svc.url, '--admin-key', ADMIN]);
    assert.deepEqual(await list.exit(), { code: 0, signal: null }, list.stderr());
    const [header, row] = list.stdout().split('\n');
    assert.match(header!, /^ID\s+NAME\s+CREATED\s+LAST USED\s+RATE\/MIN\s+TOKENS USED\s+BUDGET\s+REVOKED$/);
    assert.match(row!, new RegExp(`^${id}\\s+ci bot\\s+\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}\\s+\\S+ \\S+\\s+30\\s+0\\s+5000\\s+-$`));
    assert.ok(!list.stdout().includes(key), 'the key is never listed');

    const update = cli(['keys', 'update', id, '--token-budget', '9000', '--rate-limit', 'none', '--url', svc.url], { ADMIN_API_KEY: ADMIN });
    assert.deepEqual(await update.exit(), { code: 0, signal: null }, update.stderr());
    assert.match(update.stdout().split('\n')[1]!, new RegExp(`^${id}\\s+ci bot\\s+.*\\s+default\\s+0\\s+9000\\s+-$`), update.stdout());
    const noChange = cli(['keys', 'update', id, '--url', svc.url, '--admin-key', ADMIN]);
    assert.equal((await noChange.exit()).code, 2);
    assert.match(noChange.stderr(), /keys update needs --name, --rate-limit or --token-budget/);

    const revoke = cli(['keys', 'revoke', id, '--url', svc.url], { ADMIN_API_KEY: ADMIN });
    assert.deepEqual(await revoke.exit(), { code: 0, signal: null }, revoke.stderr());
    assert.match(revoke.stdout(), new RegExp(`^revoked ${id} \\(ci bot\\) at \\d{4}-`));
    assert.equal((await svc.request('/sessions', { key })).status, 401);
  });

  test('a wrong admin key exits 3, an unknown key id 4, no admin key or no name is a usage error (2)', async () => {
    const wrong = cli(['keys', 'list', '--url', svc.url, '--admin-key', KEY_B]);
    assert.equal((await wrong.exit()).code, 3);
    assert.match(wrong.stderr(), /error: 403 forbidden: /);
    const unknown = cli(['keys', 'list', '--url', svc.url, '--admin-key', 'not-a-key-at-all']);
    assert.equal((await unknown.exit()).code, 3);
    assert.match(unknown.stderr(), /error: 401 unauthorized/);
    const missing = cli(['keys', 'revoke', 'key_nope', '--url', svc.url, '--admin-key', ADMIN]);
    assert.equal((await missing.exit()).code, 4);
    assert.match(missing.stderr(), /error: 404 key_not_found: No key 'key_nope'/);
    const noAdmin = cli(['keys', 'list', '--url', svc.url]);
    assert.equal((await noAdmin.exit()).code, 2);
    assert.match(noAdmin.stderr(), /no admin key: pass --admin-key KEY or set ADMIN_API_KEY/);
    const noName = cli(['keys', 'create', '--url', svc.url, '--admin-key', ADMIN]);
    assert.equal((await noName.exit()).code, 2);
    assert.match(noName.stderr(), /keys create needs --name NAME/);
  });
});
