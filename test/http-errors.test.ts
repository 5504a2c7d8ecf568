/**
 * The HTTP edge: one error shape, validation, body parsing limits, 404s, hidden 500s, request ids,
 * request logging, CORS, rate limiting, docs and health/readiness. None of it needs a socket, so
 * every request goes through Fastify's inject().
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Agent } from '../src/agent/agent.js';
import { loadConfig } from '../src/config.js';
import { createDefaultAgent } from '../src/default-agent.js';
import { buildApp } from '../src/http/app.js';
import { errorRegistry } from '../src/core/error-codes.js';
import { openStore } from '../src/store/open-store.js';
import type { Storage } from '../src/store/storage.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { KEY_A, KEY_B, parseSse, startService, type StartOptions, type TestService } from './support/service.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The parts of an OpenAPI 3 document the docs test reads. */
interface OpenApiSchema {
  $ref?: string;
  type?: string;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  minLength?: number;
  maxLength?: number;
}
interface OpenApiOperation {
  security?: Array<Record<string, string[]>>;
  requestBody?: { content: Record<string, { schema?: OpenApiSchema } | undefined> };
}
interface OpenApiDoc {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, OpenApiOperation | undefined> | undefined>;
  components?: {
    schemas?: Record<string, OpenApiSchema>;
    securitySchemes?: Record<string, { type: string; in?: string; name?: string }>;
  };
  security?: Array<Record<string, string[]>>;
}

interface ErrorJson {
  error: { code: string; message: string; request_id: string; details?: unknown };
}

/** Asserts the one error shape and returns the error object. */
async function expectError(res: Response, status: number, code: string): Promise<ErrorJson['error']> {
  const text = await res.text();
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/, text);
  const body = JSON.parse(text) as ErrorJson;
  assert.deepEqual(Object.keys(body), ['error'], text);
  const keys = Object.keys(body.error);
  assert.deepEqual(keys.filter((k) => k !== 'details').sort(), ['code', 'message', 'request_id'], text);
  assert.ok(
    keys.every((k) => ['code', 'message', 'request_id', 'details'].includes(k)),
    text,
  );
  assert.equal(body.error.code, code, text);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(body.error.request_id, res.headers.get('x-request-id'), 'request_id matches the x-request-id header');
  return body.error;
}

function fieldsOf(error: ErrorJson['error']): string[] {
  assert.ok(Array.isArray(error.details), `details: ${JSON.stringify(error.details)}`);
  return (error.details as Array<{ field: string; message: string }>).map((d) => {
    assert.equal(typeof d.message, 'string');
    return d.field;
  });
}

let fake: FakeLlm;
let svc: TestService;
const started: TestService[] = [];
/** Another service sharing the fake LLM, reached through inject(); closed at the end. */
async function start(options: StartOptions = {}): Promise<TestService> {
  const s = await startService({ fake, transport: 'inject', ...options });
  started.push(s);
  return s;
}

before(async () => {
  fake = await startFakeLlm();
  svc = await start();
});
after(async () => {
  for (const s of started) await s.close();
  await fake.close();
});

describe('one error shape, request_id = x-request-id', () => {
  test('401, 404 route, 404 session and 400 all share the shape', async () => {
    await expectError(await svc.request('/sessions', { key: null }), 401, 'unauthorized');
    await expectError(await svc.request('/nope'), 404, 'route_not_found');
    await expectError(await svc.request('/sessions/missing-one'), 404, 'session_not_found');
    const v = await expectError(await svc.chat({}), 400, 'validation_error');
    assert.ok(v.details, 'validation errors carry details');
  });
});

describe('request validation', () => {
  const cases: Array<[string, unknown, string]> = [
    ['missing message', {}, 'body.message'],
    ['empty message', { message: '' }, 'body.message'],
    ['5001-char message', { message: 'x'.repeat(5001) }, 'body.message'],
    ['blank message', { message: '   ' }, 'body.message'],
    ['message of the wrong type', { message: 42 }, 'body.message'],
    ['a string body', 'hello', 'body'],
    ['an array body', [{ message: 'hi' }], 'body'],
    ['a null body', null, 'body'],
  ];
  for (const [what, body, field] of cases) {
    test(`${what} → 400 validation_error naming ${field} (chat and stream)`, async () => {
      const modelCalls = fake.requests.length;
      for (const path of ['/chat', '/chat/stream']) {
        const res = await svc.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
        const e = await expectError(res, 400, 'validation_error');
        assert.ok(e.message.includes(field), `${path}: message ${JSON.stringify(e.message)} names ${field}`);
        assert.ok(fieldsOf(e).includes(field), `${path}: details ${JSON.stringify(e.details)} name ${field}`);
      }
      assert.equal(fake.requests.length, modelCalls, 'invalid requests never reach the model');
    });
  }

  test('the blank-message error says why', async () => {
    const e = await expectError(await svc.chat({ message: ' \n\t ' }), 400, 'validation_error');
    assert.match(e.message, /blank/);
  });

  test('a 5000-character message is accepted', async () => {
    fake.enqueue({ text: 'long one received' });
    const res = await svc.chat({ message: 'y'.repeat(5000) });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { reply: string }).reply, 'long one received');
  });
});

describe('body parsing', () => {
  let limited: TestService;
  before(async () => {
    limited = await start({ env: { BODY_LIMIT_BYTES: '2048' } });
  });

  const post = (s: TestService, path: string, body: string, contentType: string | undefined) =>
    s.request(path, { method: 'POST', body, headers: contentType === undefined ? {} : { 'content-type': contentType } });

  test('malformed JSON → 400 invalid_json', async () => {
    for (const path of ['/chat', '/chat/stream']) {
      await expectError(await post(svc, path, '{"message": "hi"', 'application/json'), 400, 'invalid_json');
      await expectError(await post(svc, path, "{'message': 'hi'}", 'application/json'), 400, 'invalid_json');
    }
  });

  test('empty body with content-type application/json → 400 invalid_json', async () => {
    const e = await expectError(await post(svc, '/chat', '', 'application/json'), 400, 'invalid_json');
    assert.match(e.message, /empty/i);
  });

  test('content-type text/plain (and other non-JSON types) → 415 unsupported_media_type', async () => {
    await expectError(await post(svc, '/chat', JSON.stringify({ message: 'hi' }), 'text/plain'), 415, 'unsupported_media_type');
    await expectError(await post(svc, '/chat/stream', 'message=hi', 'application/x-www-form-urlencoded'), 415, 'unsupported_media_type');
    await expectError(await post(svc, '/chat', '<message>hi</message>', 'application/xml'), 415, 'unsupported_media_type');
  });

  test('content-type application/json with a charset is fine', async () => {
    const res = await post(svc, '/chat', JSON.stringify({ message: 'hi' }), 'application/json; charset=utf-8');
    assert.equal(res.status, 200, await res.text());
  });

  test('a body over BODY_LIMIT_BYTES → 413 payload_too_large', async () => {
    const big = JSON.stringify({ message: 'z'.repeat(5 * 1024) });
    await expectError(await post(limited, '/chat', big, 'application/json'), 413, 'payload_too_large');
    await expectError(await post(limited, '/chat/stream', big, 'application/json'), 413, 'payload_too_large');
    // Under the limit still works on the same service.
    const ok = await limited.chat({ message: 'small' });
    assert.equal(ok.status, 200, await ok.text());
  });
});

describe('404s', () => {
  test('an unknown route → 404 route_not_found, with or without a key', async () => {
    const e = await expectError(await svc.request('/does-not-exist'), 404, 'route_not_found');
    assert.match(e.message, /\/does-not-exist/);
    await expectError(await svc.request('/does-not-exist', { key: null }), 404, 'route_not_found');
    await expectError(await svc.request('/v1/chat', { method: 'POST', json: { message: 'hi' } }), 404, 'route_not_found');
  });

  test('a wrong method on a known path → 404 route_not_found in our shape', async () => {
    const wrong: Array<[string, string]> = [
      ['GET', '/chat'],
      ['GET', '/chat/stream'],
      ['PUT', '/chat'],
      ['DELETE', '/sessions'],
      ['POST', '/sessions'],
      ['PATCH', '/sessions/abc'],
      ['POST', '/health'],
    ];
    for (const [method, path] of wrong) {
      const e = await expectError(await svc.request(path, { method }), 404, 'route_not_found');
      assert.ok(e.message.includes(method) && e.message.includes(path), e.message);
    }
  });
});

describe('500s hide internal details', () => {
  const SECRET = 'secret internal detail';
  const base = { historyWindow: 10, notReadyReason: () => undefined };
  /** Throws from run() itself, before producing an iterable. */
  const throwsAtOnce: Agent = {
    ...base,
    name: 'throws-at-once',
    run() {
      throw new Error(SECRET);
    },
  };
  /** Says something, then (a moment later) fails. */
  const throwsMidway: Agent = {
    ...base,
    name: 'throws-midway',
    async *run() {
      yield { type: 'token', content: 'partial' };
      await sleep(1);
      throw new Error(SECRET);
    },
  };

  const assertHidden = (text: string) => {
    assert.ok(!text.includes('secret'), `leaked: ${text}`);
    assert.doesNotMatch(text, /\n\s+at |\.ts:\d+|stack/i, `stack leaked: ${text}`);
  };

  for (const agent of [throwsAtOnce, throwsMidway]) {
    test(`${agent.name}: /chat → 500 internal_error with a generic message`, async () => {
      const s = await start({ agent });
      const res = await s.chat({ message: 'hi' });
      const text = await res.clone().text();
      assertHidden(text);
      const e = await expectError(res, 500, 'internal_error');
      assert.equal(e.message, errorRegistry.internal_error.message);
      assert.equal(e.details, undefined);
    });

    test(`${agent.name}: /chat/stream → error event {code: internal_error} then end`, async () => {
      const s = await start({ agent });
      const res = await s.stream({ message: 'hi' });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
      const text = await res.text();
      assertHidden(text);
      const types = parseSse(text).events.map((e) => e.data);
      const errorAt = types.findIndex((e) => e.type === 'error');
      assert.ok(errorAt > 0, text);
      const err = types[errorAt]!;
      assert.ok(err.type === 'error');
      assert.equal(err.code, 'internal_error');
      assert.equal(err.message, errorRegistry.internal_error.message);
      assert.equal(types[0]!.type, 'start');
      assert.equal(types.at(-1)!.type, 'end');
      assert.equal(errorAt, types.length - 2, 'error is immediately followed by end, which is last');
    });
  }
});

describe('X-Request-Id', () => {
  test('a safe client id is echoed in the header and in error bodies', async () => {
    const ok = await svc.request('/health', { key: null, headers: { 'x-request-id': 'abc-123' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-request-id'), 'abc-123');
    await ok.arrayBuffer();

    const e = await expectError(await svc.request('/sessions', { key: null, headers: { 'x-request-id': 'abc-123' } }), 401, 'unauthorized');
    assert.equal(e.request_id, 'abc-123');
    const v = await expectError(await svc.request('/chat', { method: 'POST', json: {}, headers: { 'x-request-id': 'req.42:x_y' } }), 400, 'validation_error');
    assert.equal(v.request_id, 'req.42:x_y');
    const n = await expectError(await svc.request('/sessions/%zz', { headers: { 'x-request-id': 'bad-url-id' } }), 400, 'validation_error');
    assert.equal(n.request_id, 'bad-url-id');
    const long = 'r'.repeat(128);
    const kept = await svc.request('/health', { key: null, headers: { 'x-request-id': long } });
    assert.equal(kept.headers.get('x-request-id'), long, '128 characters is still safe');
    await kept.arrayBuffer();
  });

  test('an unsafe client id is replaced by a generated UUID', async () => {
    for (const unsafe of ['has spaces in it', 'r'.repeat(129), 'semi;colon', '<script>', 'a/b']) {
      const res = await svc.request('/sessions', { key: null, headers: { 'x-request-id': unsafe } });
      const e = await expectError(res, 401, 'unauthorized');
      assert.match(e.request_id, UUID, `replaced ${JSON.stringify(unsafe)}`);
    }
  });

  test('without a client id a fresh UUID is generated per request', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await svc.request('/health', { key: null });
      await res.arrayBuffer();
      const id = res.headers.get('x-request-id') ?? '';
      assert.match(id, UUID);
      ids.add(id);
    }
    assert.equal(ids.size, 3);
  });
});

describe('request logging', () => {
  let app: FastifyInstance;
  let store: Storage;
  const lines: string[] = [];

  before(async () => {
    let pending = '';
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        pending += chunk.toString('utf8');
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          lines.push(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
        }
        cb();
      },
    });
    store = await openStore('sqlite::memory:');
    const config = loadConfig({ LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake', LLM_MAX_RETRIES: '0' });
    ({ app } = await buildApp({ agent: createDefaultAgent(config), store, apiKeys: [KEY_A], logger: { level: 'info', stream }, version: PACKAGE_VERSION }));
    await app.ready();
  });
  after(async () => {
    await app?.close();
    await store?.close();
  });

  const linesFor = (id: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['request_id'] === id);

  async function waitForLine(id: string): Promise<void> {
    for (let waited = 0; waited < 3000 && linesFor(id).length === 0; waited += 10) await sleep(10);
  }

  test('exactly one JSON line per request with method, path, status, duration_ms and request_id', async () => {
    const json = { 'content-type': 'application/json', 'x-api-key': KEY_A };
    fake.enqueue({ text: 'logged reply' }, { text: 'logged stream' });
    const expected: Array<{ id: string; method: string; path: string; status: number }> = [];
    const run = async (id: string, method: 'GET' | 'POST', path: string, init: { headers?: Record<string, string>; body?: string } = {}) => {
      const res = await app.inject({
        method,
        url: `${path}${method === 'GET' && path === '/health' ? '?probe=1' : ''}`,
        headers: { ...init.headers, 'x-request-id': id },
        ...(init.body === undefined ? {} : { payload: init.body }),
      });
      expected.push({ id, method, path, status: res.statusCode });
    };
    await run('log-health', 'GET', '/health');
    await run('log-401', 'GET', '/sessions');
    await run('log-chat', 'POST', '/chat', { headers: json, body: JSON.stringify({ message: 'hello' }) });
    await run('log-stream', 'POST', '/chat/stream', { headers: json, body: JSON.stringify({ message: 'hello' }) });
    await run('log-404', 'GET', '/nowhere');
    await run('log-400', 'POST', '/chat', { headers: json, body: '{"message": 1}' });
    assert.deepEqual(
      expected.map((e) => e.status),
      [200, 401, 200, 200, 404, 400],
    );

    for (const e of expected) await waitForLine(e.id);
    for (const line of lines) JSON.parse(line); // every line is JSON
    for (const e of expected) {
      const mine = linesFor(e.id);
      assert.equal(mine.length, 1, `${e.id}: ${JSON.stringify(mine)}`);
      const l = mine[0]!;
      assert.equal(l['method'], e.method);
      assert.equal(l['path'], e.path, 'the path excludes the query string');
      assert.equal(l['status'], e.status);
      assert.equal(typeof l['duration_ms'], 'number');
      assert.ok((l['duration_ms'] as number) >= 0);
      assert.equal(l['level'], 30);
    }
    assert.ok(!lines.some((l) => l.includes(KEY_A)), 'the API key never reaches the logs');
  });
});

describe('CORS', () => {
  const preflight = (s: TestService, origin: string) =>
    s.request('/chat', {
      method: 'OPTIONS',
      key: null,
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key,content-type' },
    });
  const actual = (s: TestService, origin: string) => s.request('/sessions', { headers: { origin } });

  test('default (CORS_ORIGINS unset): no cross-origin access', async () => {
    const pre = await preflight(svc, 'http://evil.example');
    await pre.arrayBuffer();
    assert.ok(pre.status >= 400, `preflight status ${pre.status}`);
    assert.equal(pre.headers.get('access-control-allow-origin'), null);
    assert.equal(pre.headers.get('access-control-allow-headers'), null);
    const res = await actual(svc, 'http://evil.example');
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  test('CORS_ORIGINS=http://app.example: that origin is allowed, others are not', async () => {
    const s = await start({ env: { CORS_ORIGINS: 'http://app.example' } });
    const pre = await preflight(s, 'http://app.example');
    await pre.arrayBuffer();
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'http://app.example');
    const allowHeaders = (pre.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    assert.ok(allowHeaders.includes('x-api-key') && allowHeaders.includes('content-type'), allowHeaders.join(','));
    assert.ok((pre.headers.get('access-control-allow-methods') ?? '').includes('POST'));

    const res = await actual(s, 'http://app.example');
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), 'http://app.example');
    assert.ok((res.headers.get('access-control-expose-headers') ?? '').toLowerCase().includes('x-request-id'));
    assert.ok((res.headers.get('vary') ?? '').toLowerCase().includes('origin'));

    const evilPre = await preflight(s, 'http://evil.example');
    await evilPre.arrayBuffer();
    assert.equal(evilPre.headers.get('access-control-allow-origin'), null);
    const evil = await actual(s, 'http://evil.example');
    await evil.arrayBuffer();
    assert.equal(evil.headers.get('access-control-allow-origin'), null);
  });

  test('CORS_ORIGINS=*: any origin', async () => {
    const s = await start({ env: { CORS_ORIGINS: '*' } });
    const pre = await preflight(s, 'http://anywhere.example');
    await pre.arrayBuffer();
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    const res = await actual(s, 'http://anywhere.example');
    await res.arrayBuffer();
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.ok((res.headers.get('access-control-expose-headers') ?? '').toLowerCase().includes('x-request-id'));
  });
});

describe('rate limiting', () => {
  test('RATE_LIMIT_PER_MINUTE=3: the 4th request with one key is 429 rate_limited; other keys and /health are unaffected', async () => {
    const s = await start({ env: { RATE_LIMIT_PER_MINUTE: '3' } });
    for (let i = 0; i < 3; i++) {
      const res = await s.request('/sessions', { key: KEY_A });
      assert.equal(res.status, 200, `request ${i + 1}`);
      await res.arrayBuffer();
    }
    const limited = await s.request('/sessions', { key: KEY_A });
    const e = await expectError(limited, 429, 'rate_limited');
    assert.match(e.message, /3/);
    await expectError(await s.chat({ message: 'hi' }, KEY_A), 429, 'rate_limited');

    const other = await s.request('/sessions', { key: KEY_B });
    assert.equal(other.status, 200, 'another key has its own budget');
    await other.arrayBuffer();
    for (let i = 0; i < 5; i++) {
      const h = await s.request('/health', { key: null });
      assert.equal(h.status, 200, '/health is never limited');
      await h.arrayBuffer();
    }
  });

  test('wrong or missing keys are limited too, per client address: key guessing gets 429 after the limit, while a valid key keeps its own budget', async () => {
    const s = await start({ env: { RATE_LIMIT_PER_MINUTE: '3' } });
    const statuses: number[] = [];
    for (const key of ['guess-1', 'guess-2', null, 'guess-3', 'guess-4']) {
      const res = await s.request('/sessions', { key });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses, [401, 401, 401, 429, 429]);
    const ok = await s.request('/sessions', { key: KEY_A });
    assert.equal(ok.status, 200, 'a valid key is counted on its own');
    await ok.arrayBuffer();
  });
});

describe('docs', () => {
  test('/docs serves the Swagger UI', async () => {
    const res = await svc.request('/docs', { key: null });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await res.text(), /swagger-ui/i);
  });

  test('/openapi.json is OpenAPI 3 with every route, the ChatRequest schema and the X-API-Key scheme', async () => {
    const res = await svc.request('/openapi.json', { key: null });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as OpenApiDoc;
    assert.match(doc.openapi, /^3\./);
    for (const path of ['/chat', '/chat/stream', '/sessions', '/sessions/{id}', '/health', '/ready']) assert.ok(doc.paths[path], `missing ${path}`);
    const op = (path: string, method: string): OpenApiOperation => {
      const found = doc.paths[path]?.[method];
      assert.ok(found, `missing ${method.toUpperCase()} ${path}`);
      return found;
    };
    op('/sessions/{id}', 'get');
    op('/sessions/{id}', 'delete');

    const resolve = (schema: OpenApiSchema | undefined): OpenApiSchema | undefined => {
      if (!schema?.$ref) return schema;
      const name = schema.$ref.replace('#/components/schemas/', '');
      return resolve(doc.components?.schemas?.[name]);
    };
    for (const path of ['/chat', '/chat/stream']) {
      const body = resolve(op(path, 'post').requestBody?.content['application/json']?.schema);
      assert.ok(body, `${path} has a JSON request body`);
      assert.equal(body.type, 'object');
      const message = body.properties?.['message'];
      assert.ok(message, `${path} has a message property`);
      assert.equal(message.maxLength, 5000, `${path} message maxLength`);
      assert.equal(message.minLength, 1);
      assert.ok(body.required?.includes('message'));
      assert.ok(body.properties?.['session_id']);
    }

    const schemes = doc.components?.securitySchemes ?? {};
    const [schemeName] = Object.entries(schemes).find(([, s]) => s.type === 'apiKey' && s.in === 'header' && s.name === 'X-API-Key') ?? [];
    assert.ok(schemeName, `schemes: ${JSON.stringify(schemes)}`);
    const effective = (o: OpenApiOperation) => o.security ?? doc.security ?? [];
    assert.deepEqual(effective(op('/health', 'get')), [], '/health needs no key');
    assert.deepEqual(effective(op('/ready', 'get')), [], '/ready needs no key');
    for (const o of [op('/chat', 'post'), op('/sessions', 'get'), op('/sessions/{id}', 'delete')]) {
      assert.ok(effective(o).some((requirement) => schemeName in requirement));
    }
    assert.equal(doc.info.version, PACKAGE_VERSION);
  });
});

describe('health and readiness', () => {
  test('/health → {status: healthy, version}', async () => {
    const res = await svc.request('/health', { key: null });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'healthy', version: PACKAGE_VERSION });
  });

  test('/ready → 200 {status: ready, agents: [the one agent, its model]}', async () => {
    const res = await svc.request('/ready', { key: null });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ready', agents: [{ name: 'agent', model: 'fake-model', default: true, ready: true }] });
  });

  test('/ready with a store that does not answer → 503 not_ready naming the store', async () => {
    const real = await openStore('sqlite::memory:');
    try {
      const broken: Storage = Object.assign(Object.create(real) as Storage, {
        ping: () => Promise.reject(new Error('connection refused (db internals)')),
      });
      const s = await start({ store: broken });
      const e = await expectError(await s.request('/ready', { key: null }), 503, 'not_ready');
      assert.match(e.message, /store/);
      assert.ok(!e.message.includes('db internals'), 'the driver error stays in the logs');
      const health = await s.request('/health', { key: null });
      assert.equal(health.status, 200, 'liveness does not depend on the store');
      await health.arrayBuffer();
      await s.close();
    } finally {
      await real.close();
    }
  });

  test('/ready without a model → 503 not_ready naming the model', async () => {
    const s = await start({ noModel: true });
    const e = await expectError(await s.request('/ready', { key: null }), 503, 'not_ready');
    assert.match(e.message, /model/);
  });
});
