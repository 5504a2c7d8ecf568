/**
 * What an attack run found at the HTTP edge, over a real socket: bodies that trickle in or stop
 * get a 408 in our error shape and their connection closed (BODY_TIMEOUT_MS), unknown methods and
 * paths that climb out of /docs/static are 404s, a malformed URL is a 400, never a 500, and every
 * one of them is one quiet log line (no stack) and counted in /metrics.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../src/config.js';
import { createDefaultAgent } from '../src/default-agent.js';
import { buildApp } from '../src/http/app.js';
import { openStore } from '../src/store/open-store.js';
import type { Storage } from '../src/store/storage.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { parsePrometheus, sampleSum } from './support/prometheus-text.js';
import { KEY_A } from './support/service.js';

const BODY_TIMEOUT_MS = 1000;

let fake: FakeLlm;
let store: Storage;
let app: FastifyInstance;
let port: number;
const lines: Array<Record<string, unknown>> = [];

before(async () => {
  fake = await startFakeLlm();
  store = await openStore('sqlite::memory:');
  let pending = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(pending.slice(0, nl)) as Record<string, unknown>);
        pending = pending.slice(nl + 1);
      }
      cb();
    },
  });
  const config = loadConfig({ LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake', LLM_MAX_RETRIES: '0' });
  ({ app } = await buildApp({
    agent: createDefaultAgent(config),
    store,
    apiKeys: [KEY_A],
    bodyTimeoutMs: BODY_TIMEOUT_MS,
    logger: { level: 'info', stream },
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as net.AddressInfo).port;
});

after(async () => {
  await app?.close();
  await store?.close();
  await fake?.close();
});

interface RawAnswer {
  /** Everything the server wrote before it closed the connection. */
  text: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Writes `request` on a fresh connection (and nothing more) and collects what comes back until the server closes it. */
function rawExchange(request: string, { stall = false } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    socket.setEncoding('utf8').on('data', (s: string) => (text += s));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const headers = Object.fromEntries(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ text, status: Number(statusLine.split(' ')[1]), headers, body });
    });
    // Without a stall the client ends its side, as curl does after a complete request.
    if (!stall) socket.on('connect', () => socket.end());
  });
}

const request = (method: string, path: string, extra = '') => rawExchange(`${method} ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);

function assertErrorShape(answer: RawAnswer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text);
  const body = JSON.parse(answer.body) as { error: { code: string; message: string; request_id: string } };
  assert.equal(body.error.code, code, answer.text);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(body.error.request_id, answer.headers['x-request-id'], 'the body and the header carry the same request id');
}

const noStacks = () =>
  assert.ok(!lines.some((l) => JSON.stringify(l).includes('    at ')), `no stack in any log line:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);

async function unmatchedCount(status: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return sampleSum(parsePrometheus(await res.text()), 'http_requests_total', { route: 'unmatched', status: String(status) });
}

describe('bodies that trickle in or stop', () => {
  test(`300 connections that send headers and part of a body, then stall, all get 408 request_timeout and are closed`, async () => {
    const before408 = lines.filter((l) => l['status'] === 408).length;
    const partial = `POST /chat HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY_A}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"message": "he`;
    const answers = await Promise.all(Array.from({ length: 300 }, () => rawExchange(partial, { stall: true })));
    for (const answer of answers) {
      assertErrorShape(answer, 408, 'request_timeout');
      assert.equal(answer.headers['connection'], 'close');
    }
    // Each one is one request line at info, with its route and the code, and nothing else.
    const timedOut = lines.filter((l) => l['status'] === 408).slice(before408);
    assert.equal(timedOut.length, 300);
    for (const l of timedOut) {
      assert.equal(l['level'], 30);
      assert.equal(l['path'], '/chat');
      assert.equal(l['code'], 'request_timeout');
    }
    noStacks();
  });

  test('headers that never finish: 408 in our shape too, counted as unmatched', async () => {
    const counted = await unmatchedCount(408);
    const answer = await rawExchange(`GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: `, { stall: true });
    assertErrorShape(answer, 408, 'request_timeout');
    assert.equal(await unmatchedCount(408), counted + 1);
    noStacks();
  });

  test('a client that hangs up mid-body is one info line (499), not an unhandled error', async () => {
    const id = 'hung-up-mid-body';
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /chat HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${id}\r\nX-API-Key: ${KEY_A}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"mes`,
        );
        setTimeout(() => socket.destroy(), 100);
      });
      socket.on('close', () => resolve());
    });
    for (let waited = 0; waited < 5000 && !lines.some((l) => l['request_id'] === id); waited += 20) await new Promise((r) => setTimeout(r, 20));
    const mine = lines.filter((l) => l['request_id'] === id);
    assert.equal(mine.length, 1, JSON.stringify(mine));
    assert.equal(mine[0]!['status'], 499);
    assert.equal(mine[0]!['level'], 30);
    assert.ok(!lines.some((l) => l['msg'] === 'unhandled error'), 'nothing unhandled');
  });
});

describe('methods, paths and URLs the attack run tried', () => {
  for (const method of ['QUERY', 'FOO']) {
    test(`${method} → 404 route_not_found in our shape, never 500`, async () => {
      assertErrorShape(await request(method, '/health'), 404, 'route_not_found');
      assertErrorShape(
        await rawExchange(`${method} /chat HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY_A}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`),
        404,
        'route_not_found',
      );
      noStacks();
    });
  }

  for (const path of ['/docs/static/../../package.json', '/docs/static/%2e%2e/%2e%2e/package.json', '/docs/static/%2E%2E/%2E%2E/package.json']) {
    test(`${path} → 404, never the file`, async () => {
      const answer = await request('GET', path);
      assertErrorShape(answer, 404, 'route_not_found');
      assert.doesNotMatch(answer.text, /"devDependencies"/);
      noStacks();
    });
  }

  test('/% → 400 validation_error, counted in /metrics as unmatched', async () => {
    const counted = await unmatchedCount(400);
    assertErrorShape(await request('GET', '/%'), 400, 'validation_error');
    assert.equal(await unmatchedCount(400), counted + 1);
  });

  test('client errors log at info without an err object; nothing is logged as unhandled', () => {
    assert.ok(lines.length > 0);
    for (const l of lines) {
      assert.ok(!('err' in l), JSON.stringify(l));
      if (typeof l['status'] === 'number' && l['status'] < 500) assert.equal(l['level'], 30, JSON.stringify(l));
    }
    assert.ok(!lines.some((l) => l['msg'] === 'unhandled error'));
  });
});
