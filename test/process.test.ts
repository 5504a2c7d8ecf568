/**
 * The service as a real process: generated API key, node:cluster workers sharing it and the
 * session lock, graceful shutdown on SIGTERM/SIGINT, start-up without a model, and the built
 * `node dist/main.js` entry that `npm start` runs. Plus what that shutdown rests on, in process:
 * AgentServer.close() with requests still arriving and runs outliving their responses.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiKeys } from '../src/http/api-keys.js';
import { openStore } from '../src/store/open-store.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { fakeModelAgent, KEY_A, slowTool, startService, waitFor } from './support/service.js';
import { canConnect, generatedKeys, REPO_ROOT, sseEvents, startChild, stopAllChildren, type ChildService } from './support/child-service.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** 10 chunks of 4 characters. */
const TEXT = 'abcdefghijklmnopqrstuvwxyz0123456789ABCD';
const TEXT_CHUNKS = 10;

interface ErrorBody {
  error: { code: string; message: string; request_id: string };
}

let fake: FakeLlm;
/** `npm run build`, started at once so it overlaps the other tests; awaited by the dist test. */
let build: Promise<{ ok: boolean; output: string }>;

before(async () => {
  build = new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      { cwd: REPO_ROOT, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ ok: !err, output: `${stdout}${stderr}${err ? `\n${err.message}` : ''}` }),
    );
  });
  fake = await startFakeLlm();
});
after(async () => {
  await stopAllChildren();
  await fake?.close();
  await build?.catch(() => {});
});

const llmEnv = () => ({ LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake' });

/** Polls until new TCP connections are refused. */
async function waitUntilRefused(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await canConnect(port)) {
    if (Date.now() > deadline) throw new Error(`port ${port} still accepts connections ${timeoutMs} ms after the signal`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pids of workers that logged `Server listening`, once `n` distinct ones have. */
async function listeningPids(child: ChildService, n: number): Promise<number[]> {
  const pids = () => [
    ...new Set(
      child
        .logLines()
        .filter((l) => String(l['msg']).startsWith('Server listening'))
        .map((l) => Number(l['pid'])),
    ),
  ];
  await child.waitForOutput(() => pids().length >= n, 'stdout', 20_000);
  return pids();
}

function requestLog(child: ChildService, path: string, status?: number): Array<Record<string, unknown>> {
  return child.logLines().filter((l) => l['msg'] === 'request' && l['path'] === path && (status === undefined || l['status'] === status));
}

/**
 * Starts a slow stream, sends SIGTERM mid-way and checks the stream still completes, new
 * connections are refused, and the process exits 0 soon after the stream ends. fetch keeps its
 * connection alive afterwards, as real clients do, so an idle keep-alive socket must not hold the exit.
 */
async function sigtermDuringStream(child: ChildService, key: string): Promise<void> {
  fake.enqueue({ text: TEXT, delayMs: 200 });
  const n = fake.requests.length;
  const res = await child.fetch('/chat/stream', { key, json: { message: 'slow one' } });
  assert.equal(res.status, 200);
  const body = res.text();
  await fake.waitForRequests(n + 1, 10_000);

  child.signal('SIGTERM');
  await waitUntilRefused(child.port);
  const events = sseEvents(await body);
  const streamEnded = Date.now();
  assert.deepEqual(
    events.map((e) => e.type),
    ['start', 'step_start', ...Array<string>(TEXT_CHUNKS).fill('token'), 'step_finish', 'end'],
  );
  assert.equal(events.at(-1)?.['reply'], TEXT);
  assert.equal(fake.requests[n]?.aborted, false, 'the model call was not cut');

  const { code, signal } = await child.waitForExit(20_000);
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, child.stderr());
  const lag = Date.now() - streamEnded;
  assert.ok(lag < 10_000, `exited ${lag} ms after the last stream ended`);
}

describe('single process without VALID_API_KEYS or a model', () => {
  let child: ChildService;
  let key: string;
  before(async () => {
    child = await startChild({ env: { LOG_LEVEL: 'info' } });
  });
  after(() => child?.stop());

  test('prints one generated key (aak_…) with how to set your own', () => {
    const keys = generatedKeys(child.stderr());
    assert.equal(keys.length, 1, child.stderr());
    key = keys[0]!;
    assert.match(key, /^aak_[A-Za-z0-9_-]{20,}$/);
    assert.match(child.stderr(), /VALID_API_KEYS=/);
    assert.match(child.stderr(), /X-API-Key/);
    assert.ok(!child.stdout().includes(key), 'the key is not written to the logs');
  });

  test('the generated key authenticates; a wrong or missing key is 401', async () => {
    const ok = await child.request('/sessions', { key });
    assert.equal(ok.status, 200, ok.text);
    const wrong = await child.request('/sessions', { key: `${key}x` });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json<ErrorBody>().error.code, 'unauthorized');
    assert.equal((await child.request('/sessions', { key: null })).status, 401);
  });

  test('without a model it still starts: /health 200, /chat 503 model_not_configured', async () => {
    const health = await child.request('/health');
    assert.equal(health.status, 200);
    assert.deepEqual(health.json(), { status: 'healthy', version: VERSION });
    const chat = await child.request('/chat', { key, json: { message: 'hello' } });
    assert.equal(chat.status, 503, chat.text);
    assert.equal(chat.json<ErrorBody>().error.code, 'model_not_configured');
    const stream = await child.request('/chat/stream', { key, json: { message: 'hello' } });
    assert.equal(stream.status, 503);
    assert.equal(stream.json<ErrorBody>().error.code, 'model_not_configured');
    const ready = await child.request('/ready');
    assert.equal(ready.status, 503);
    assert.equal(fake.requests.length, 0);
  });

  test('SIGINT exits 0', async () => {
    child.signal('SIGINT');
    const { code, signal } = await child.waitForExit(15_000);
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, child.stderr());
  });
});

describe('two cluster workers (WORKERS=2) on one SQLite file', () => {
  let child: ChildService;
  let key: string;
  let workerPids: number[];
  before(async () => {
    // The grace period outlasts every test: shutdown must end when the work does, not by timer.
    child = await startChild({ env: { WORKERS: '2', LOG_LEVEL: 'info', SHUTDOWN_GRACE_MS: '60000', ...llmEnv() } });
    workerPids = await listeningPids(child, 2);
    key = generatedKeys(child.stderr())[0] ?? '';
  });
  after(() => child?.stop());

  test('both workers run in their own process, apart from the primary', () => {
    assert.equal(workerPids.length, 2);
    for (const pid of workerPids) {
      assert.notEqual(pid, child.pid);
      assert.ok(isAlive(pid), `worker ${pid} is running`);
    }
  });

  test('all workers accept the one key the primary generated and printed once', async () => {
    assert.equal(generatedKeys(child.stderr()).length, 1, child.stderr());
    assert.match(key, /^aak_/);
    const earlier = requestLog(child, '/sessions').length;
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await child.request('/sessions', { key })).status);
    assert.deepEqual(statuses, Array(20).fill(200));
    assert.equal((await child.request('/sessions', { key: 'not-the-key' })).status, 401);
    // Each request came on a new connection, so the primary spread them over both workers.
    await child.waitForOutput(() => requestLog(child, '/sessions').length >= earlier + 21, 'stdout', 5000);
    const servedBy = new Set(requestLog(child, '/sessions', 200).map((l) => Number(l['pid'])));
    assert.deepEqual([...servedBy].sort(), [...workerPids].sort());
    assert.equal(generatedKeys(child.stderr()).length, 1, 'workers print no key of their own');
  });

  test('one run per session holds across workers: concurrent turns get 409 session_busy', async () => {
    fake.enqueue({ text: 'first' });
    const first = await child.request('/chat', { key, json: { message: 'start a session' } });
    assert.equal(first.status, 200, first.text);
    const sessionId = first.json<{ session_id: string }>().session_id;

    const n = fake.requests.length;
    fake.enqueue({ text: TEXT, delayMs: 150 });
    const streaming = child.fetch('/chat/stream', { key, json: { message: 'take a while', session_id: sessionId } });
    const res = await streaming;
    assert.equal(res.status, 200);
    const body = res.text();
    await fake.waitForRequests(n + 1, 10_000);

    const logged = requestLog(child, '/chat', 409).length;
    const busy = [];
    for (let i = 0; i < 6; i++) busy.push(await child.request('/chat', { key, json: { message: `again ${i}`, session_id: sessionId } }));
    const streamed = sseEvents(await body);
    assert.deepEqual(
      busy.map((r) => [r.status, r.json<Partial<ErrorBody>>().error?.code]),
      Array(6).fill([409, 'session_busy']),
    );
    assert.equal(fake.requests.length, n + 1, 'no busy turn reached the model');
    await child.waitForOutput(() => requestLog(child, '/chat', 409).length >= logged + 6, 'stdout', 5000);
    const refusedBy = new Set(requestLog(child, '/chat', 409).map((l) => Number(l['pid'])));
    assert.equal(refusedBy.size, 2, 'both workers refused a turn');

    assert.equal(streamed.at(-1)?.type, 'end');
    assert.equal(streamed.at(-1)?.['reply'], TEXT);
    // The lease is released when the run ends: the session takes turns again, on either worker.
    fake.enqueue({ text: 'free again' });
    const after = await child.request('/chat', { key, json: { message: 'now?', session_id: sessionId } });
    assert.equal(after.status, 200, after.text);
    assert.equal(after.json<{ reply: string }>().reply, 'free again');
  });

  test('SIGTERM: the in-flight stream completes, new connections are refused, the primary exits 0', async () => {
    await sigtermDuringStream(child, key);
    await new Promise((r) => setTimeout(r, 200));
    for (const pid of workerPids) assert.ok(!isAlive(pid), `worker ${pid} has exited`);
  });
});

describe('graceful shutdown of a single process', () => {
  test('SIGTERM: the in-flight stream completes with `end`, new connections are refused, exit 0 once it is done', async () => {
    // A grace period far longer than the stream: the exit must come from the stream ending, not the timer.
    const child = await startChild({ env: { VALID_API_KEYS: 'k', SHUTDOWN_GRACE_MS: '60000', ...llmEnv() } });
    try {
      await sigtermDuringStream(child, 'k');
    } finally {
      await child.stop();
    }
  });

  test('SIGTERM: a connection that never sent a request (a pre-connect) does not hold the exit', async () => {
    const child = await startChild({ env: { VALID_API_KEYS: 'k', SHUTDOWN_GRACE_MS: '60000', ...llmEnv() } });
    const socket = net.connect(child.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      const sent = Date.now();
      child.signal('SIGTERM');
      const { code } = await child.waitForExit(20_000);
      assert.equal(code, 0, child.stderr());
      const took = Date.now() - sent;
      assert.ok(took < 10_000, `exit took ${took} ms with a 60 s grace period`);
    } finally {
      socket.destroy();
      await child.stop();
    }
  });

  test('SIGTERM with SHUTDOWN_GRACE_MS=500: a long stream ends early with `error` then `end`, the model call is cut, exit 0', async () => {
    const grace = 500;
    const child = await startChild({ env: { VALID_API_KEYS: 'k', SHUTDOWN_GRACE_MS: String(grace), ...llmEnv() } });
    try {
      fake.enqueue({ text: TEXT, delayMs: 1000 }); // ~10 s if left alone
      const n = fake.requests.length;
      const res = await child.fetch('/chat/stream', { key: 'k', json: { message: 'very slow' } });
      assert.equal(res.status, 200);
      const body = res.text();
      await fake.waitForRequests(n + 1, 10_000);

      const signalled = Date.now();
      child.signal('SIGTERM');
      const events = sseEvents(await body);
      const types = events.map((e) => e.type);
      assert.equal(types[0], 'start');
      assert.deepEqual(types.slice(-2), ['error', 'end'], JSON.stringify(events));
      assert.equal(events.at(-2)?.['code'], 'shutting_down');
      assert.ok(types.filter((t) => t === 'token').length < TEXT_CHUNKS, 'the stream did not run to completion');
      await fake.waitForAbort(n, 5000);

      const { code, signal } = await child.waitForExit(grace + 10_000);
      const took = Date.now() - signalled;
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, child.stderr());
      assert.ok(took < grace + 4000, `exited ${took} ms after SIGTERM`);
    } finally {
      await child.stop();
    }
  });
});

describe('cluster shutdown right after a worker crashed', () => {
  test('SIGTERM while a replacement worker is pending: the primary still exits 0 once the stream ends', async () => {
    const child = await startChild({ env: { WORKERS: '2', LOG_LEVEL: 'info', VALID_API_KEYS: 'k', SHUTDOWN_GRACE_MS: '20000', ...llmEnv() } });
    try {
      const [crashed, survivor] = await listeningPids(child, 2);
      process.kill(crashed!, 'SIGKILL');
      // The primary schedules a replacement a second after it notices; shut down within that second.
      await child.waitForOutput((s) => s.includes(`worker ${crashed} exited`), 'stderr', 10_000);
      fake.enqueue({ text: TEXT, delayMs: 200 });
      const res = await child.fetch('/chat/stream', { key: 'k', json: { message: 'on the survivor' } });
      child.signal('SIGTERM');
      assert.equal(res.status, 200);
      const events = sseEvents(await res.text());
      assert.equal(events.at(-1)?.type, 'end');
      assert.equal(events.at(-1)?.['reply'], TEXT);

      const { code, signal } = await child.waitForExit(10_000);
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, child.stderr());
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(!isAlive(survivor!), 'the surviving worker has exited');
    } finally {
      await child.stop();
    }
  });
});

describe('production entry: node dist/main.js', () => {
  test('the build starts, serves /health and stops on SIGTERM with exit 0', async () => {
    const { ok, output } = await build;
    assert.ok(ok, `tsc -p tsconfig.build.json failed:\n${output}`);
    const child = await startChild({ entry: 'dist', env: { VALID_API_KEYS: 'k', ...llmEnv() } });
    try {
      const health = await child.request('/health');
      assert.equal(health.status, 200);
      assert.equal(health.json<{ version: string }>().version, VERSION);
      fake.enqueue({ text: 'from dist' });
      const chat = await child.request('/chat', { key: 'k', json: { message: 'hi' } });
      assert.equal(chat.status, 200, chat.text);
      assert.equal(chat.json<{ reply: string }>().reply, 'from dist');
      child.signal('SIGTERM');
      const { code } = await child.waitForExit(15_000);
      assert.equal(code, 0, child.stderr());
    } finally {
      await child.stop();
    }
  });
});

describe('graceful shutdown in process: AgentServer.close()', () => {
  test('a request arriving on a kept-alive connection while closing gets 503 shutting_down in the error shape', async () => {
    const svc = await startService({ fake, env: { SHUTDOWN_GRACE_MS: '3000' } });
    const sock = net.connect(Number(new URL(svc.url).port), '127.0.0.1');
    try {
      let raw = '';
      sock.on('data', (d: Buffer) => (raw += d.toString('utf8')));
      const n = fake.requests.length;
      fake.enqueue({ text: 'slow reply', delayMs: 100 });
      const body = JSON.stringify({ message: 'hi' });
      sock.write(
        `POST /chat HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY_A}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await fake.waitForRequests(n + 1);
      const closing = svc.server.close();
      await sleep(50);
      // Pipelined on the busy connection, so Node does not close it as idle.
      sock.write(`GET /sessions HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY_A}\r\nx-request-id: late-request\r\n\r\n`);
      await closing;
      await waitFor(() => raw.includes('HTTP/1.1 503'), 'the 503');
      const second = raw.slice(raw.indexOf('HTTP/1.1 503'));
      assert.match(second, /^x-request-id: late-request\r$/im, second);
      const json = JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4)) as ErrorBody;
      assert.equal(json.error.code, 'shutting_down');
      assert.equal(json.error.request_id, 'late-request');
    } finally {
      sock.destroy();
      await svc.close();
    }
  });

  test('close() waits for a run that outlived its response: the session is saved and released before the store closes', async () => {
    const tools = { started: 0, finished: 0 };
    const agent = fakeModelAgent(fake, { slow: slowTool(tools) });
    // close() below is called again by svc.close(): it is idempotent, and the data dir lives until then.
    const svc = await startService({ fake, agent });
    try {
      fake.enqueue({ toolCalls: [{ id: 'call_slow', name: 'slow', arguments: { ms: 600 } }] });
      const ac = new AbortController();
      const res = await svc.stream({ message: 'be slow', session_id: 'outlives' }, undefined, ac.signal);
      const reader = res.body!.getReader();
      while (tools.started === 0) {
        const { done, value } = await reader.read();
        assert.ok(!done, `the stream ended before the tool started: ${new TextDecoder().decode(value)}`);
      }
      ac.abort();
      await sleep(50);
      await svc.server.close();

      const store = await openStore(`sqlite:${join(svc.dir, 'agent.db')}`);
      try {
        const owner = new ApiKeys([KEY_A]).authenticate(KEY_A)!;
        const rows = await store.listMessages('outlives', owner, { limit: 10 });
        assert.deepEqual(
          rows.map((r) => [r.message.role, 'interrupted' in r.message ? r.message.interrupted : undefined]),
          [
            ['user', undefined],
            ['assistant', true],
          ],
        );
        assert.equal(await store.claimSession('outlives', owner, 'run_next', Date.now() + 1000), true, 'the session lease was released');
      } finally {
        await store.close();
      }
    } finally {
      await svc.close();
    }
  });
});
