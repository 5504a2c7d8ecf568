/**
 * Regression tests for defects found in review. Each test failed before its fix in src/.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createAgent } from '../src/agent/agent.js';
import { AgentError } from '../src/agent/agent-error.js';
import { createChatModel } from '../src/agent/chat-model.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { createDefaultAgent } from '../src/default-agent.js';
import { buildApp } from '../src/http/app.js';
import { openStore } from '../src/store/open-store.js';
import type { Store } from '../src/store/store.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { fakeModelAgent, KEY_A, KEY_B, slowTool, startService, waitFor } from './support/service.js';

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake.close());

describe('shutdown', () => {
  test('a request arriving on a kept-alive connection while closing gets 503 shutting_down in the error shape', async () => {
    const svc = await startService({ fake, env: { SHUTDOWN_GRACE_MS: '3000' } });
    const sock = net.connect(Number(new URL(svc.url).port), '127.0.0.1');
    try {
      let raw = '';
      sock.on('data', (d: Buffer) => (raw += d.toString('utf8')));
      const n = fake.requests.length;
      fake.enqueue({ text: 'slow reply', delayMs: 100 });
      const body = JSON.stringify({ message: 'hi' });
      sock.write(`POST /chat HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY_A}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      await fake.waitForRequests(n + 1);
      const closing = svc.server.close();
      await sleep(50);
      // Pipelined on the busy connection, so Node does not close it as idle.
      sock.write(`GET /sessions HTTP/1.1\r\nHost: x\r\nx-api-key: ${KEY_A}\r\nx-request-id: late-request\r\n\r\n`);
      await closing;
      await waitFor(() => raw.includes('HTTP/1.1 503'), 'the 503');
      const second = raw.slice(raw.indexOf('HTTP/1.1 503'));
      assert.match(second, /^x-request-id: late-request\r$/im, second);
      const json = JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4)) as { error: { code: string; request_id: string } };
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
    const svc = await startService({ fake, agent, keepDir: true });
    try {
      fake.enqueue({ toolCalls: [{ id: 'call_slow', name: 'slow', arguments: { ms: 600 } }] });
      const ac = new AbortController();
      const res = await svc.stream({ message: 'be slow', session_id: 'outlives' }, undefined, ac.signal);
      const reader = res.body!.getReader();
      while (tools.started === 0) await reader.read();
      ac.abort();
      await sleep(50);
      await svc.server.close();

      const store = await openStore(`sqlite:${join(svc.dir, 'agent.db')}`);
      try {
        const rows = await store.listMessages('outlives', { limit: 10 });
        assert.deepEqual(
          rows.map((r) => [r.message.role, 'interrupted' in r.message ? r.message.interrupted : undefined]),
          [
            ['user', undefined],
            ['assistant', true],
          ],
        );
        assert.equal(await store.claimRun('outlives', Date.now() + 1000), true, 'the session lease was released');
      } finally {
        await store.close();
      }
    } finally {
      await svc.close();
    }
  });
});

describe('client hang-ups', () => {
  test('a hang-up while the turn is being set up still stops the run: no model call is made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-api-review-'));
    const inner = await openStore(`sqlite:${join(dir, 'x.db')}`);
    // A slow store (a busy database) widens the window between the request and the run.
    const store = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'claimRun') {
          return async (id: string, until: number) => {
            await sleep(300);
            return target.claimRun(id, until);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as Store;
    const svc = await startService({ fake, store });
    try {
      for (const path of ['/chat/stream', '/chat']) {
        const n = fake.requests.length;
        const ac = new AbortController();
        const pending = svc.request(path, { method: 'POST', json: { message: 'hello?' }, signal: ac.signal }).catch(() => undefined);
        await sleep(100);
        ac.abort();
        await pending;
        await sleep(400);
        await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
        assert.equal(fake.requests.length, n, `${path}: the model was called for a client that had gone`);
      }
    } finally {
      await svc.close();
      await inner.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a hung-up request still writes its one request log line', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const store = await openStore('sqlite::memory:');
    const config = loadConfig({ LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_MAX_RETRIES: '0' });
    const { app, turns } = await buildApp({ agent: createDefaultAgent(config), store, apiKeys: [KEY_A], logger: { level: "info", stream } });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      for (const [path, id] of [
        ['/chat/stream', 'hangup-stream'],
        ['/chat', 'hangup-chat'],
      ] as const) {
        fake.enqueue({ text: 'x'.repeat(40), delayMs: 50 });
        const ac = new AbortController();
        const headers = { 'content-type': 'application/json', 'x-api-key': KEY_A, 'x-request-id': id };
        const done = fetch(`${url}${path}`, { method: 'POST', headers, body: JSON.stringify({ message: 'hi' }), signal: ac.signal })
          .then((r) => r.body?.getReader().read())
          .catch(() => undefined);
        await sleep(250);
        ac.abort();
        await done;
        await waitFor(() => turns.activeRuns === 0, 'the run to end');
      }
      await sleep(100);
      const requestLines = (id: string) => lines.filter((l) => l['request_id'] === id && l['msg'] === 'request');
      assert.equal(requestLines('hangup-stream').length, 1, JSON.stringify(lines));
      assert.equal(requestLines('hangup-stream')[0]!['status'], 200, 'the stream had started');
      assert.equal(requestLines('hangup-chat').length, 1, JSON.stringify(lines));
      assert.equal(requestLines('hangup-chat')[0]!['status'], 499, 'nobody received the /chat response');
      assert.equal(requestLines('hangup-chat')[0]!['path'], '/chat');
    } finally {
      // fetch opens a fresh connection after an abort and never uses it; only createAgentServer's close() sweeps those.
      app.server.closeAllConnections();
      await app.close();
      await store.close();
    }
  });
});

describe('sessions', () => {
  test("DELETE while the session is answering is 409 session_busy: the run would go on writing under that id, into whoever's session it names next", async () => {
    const svc = await startService({ fake });
    try {
      fake.enqueue({ text: 'A-private-reply', delayMs: 60 });
      const res = await svc.stream({ message: 'A asks', session_id: 'del-busy' }, KEY_A);
      const reader = res.body!.getReader();
      await reader.read();
      const del = await svc.request('/sessions/del-busy', { method: 'DELETE' });
      const text = await del.text();
      if (del.status === 204) {
        // What that allowed: another key takes the id, and A's reply lands in B's session.
        fake.enqueue({ text: 'B reply' });
        assert.equal((await svc.chat({ message: 'B asks', session_id: 'del-busy' }, KEY_B)).status, 200);
        while (!(await reader.read()).done);
        const messages = ((await (await svc.request('/sessions/del-busy', { key: KEY_B })).json()) as { messages: Array<{ content?: string }> }).messages;
        assert.fail(`DELETE of a busy session answered 204; B's session then held ${JSON.stringify(messages.map((m) => m.content))}`);
      }
      assert.equal(del.status, 409, text);
      assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'session_busy');
      while (!(await reader.read()).done);
      const after = await svc.request('/sessions/del-busy', { method: 'DELETE' });
      assert.equal(after.status, 204);
    } finally {
      await svc.close();
    }
  });
});

describe('agent', () => {
  test('run() with an already-aborted signal throws AgentError(aborted), as the Agent contract says', async () => {
    const agent = createAgent({ model: createChatModel({ baseURL: fake.url, model: 'fake-model' }), maxRetries: 0 });
    const n = fake.requests.length;
    await assert.rejects(
      async () => {
        for await (const _ of agent.run({ history: [], message: 'hi', signal: AbortSignal.abort(new Error('gone')) })) {
          /* nothing */
        }
      },
      (err: unknown) => err instanceof AgentError && err.code === 'aborted',
    );
    assert.equal(fake.requests.length, n);
  });
});

describe('configuration', () => {
  test('WORKERS > 1 with sqlite::memory: is refused: each worker would get its own empty, unmigrated database', () => {
    assert.throws(
      () => loadConfig({ WORKERS: '2', DATABASE_URL: 'sqlite::memory:' }),
      (err: unknown) => err instanceof ConfigError && /DATABASE_URL/.test(err.message) && /WORKERS/.test(err.message),
    );
    assert.equal(loadConfig({ WORKERS: '1', DATABASE_URL: 'sqlite::memory:' }).WORKERS, 1);
    assert.equal(loadConfig({ WORKERS: '2', DATABASE_URL: 'sqlite:./x.db' }).WORKERS, 2);
  });
});

describe('postgres store', () => {
  const envUrl = process.env['DATABASE_URL'];
  const adminUrl = envUrl && /^postgres(ql)?:\/\//.test(envUrl) ? envUrl : 'postgres://postgres@127.0.0.1:5432/test';

  test('a pooled connection dropped by the server does not crash the process; the store keeps working', async (t) => {
    const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 3000 });
    try {
      await admin.connect();
    } catch (err) {
      await admin.end().catch(() => {});
      t.skip(`PostgreSQL not reachable: ${(err as Error).message}`);
      return;
    }
    const db = `agent_api_review_${process.pid}_${Date.now()}`;
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    let store: Store | undefined;
    try {
      await admin.query(`CREATE DATABASE ${db}`);
      const url = new URL(adminUrl);
      url.pathname = `/${db}`;
      store = await openStore(url.toString());
      await store.ping(); // leaves an idle client in the pool
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db]);
      await sleep(300);
      assert.deepEqual(uncaught.map(String), []);
      await store.ping();
    } finally {
      process.off('uncaughtException', onUncaught);
      await store?.close().catch(() => {});
      await sleep(100);
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => {});
      await admin.end();
    }
  });
});
