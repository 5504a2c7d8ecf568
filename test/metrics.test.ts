import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startChild, stopAllChildren } from './support/child-service.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { parsePrometheus, sampleSum, type Sample } from './support/prometheus-text.js';
import { KEY_A, startService, waitFor, type TestService } from './support/service.js';

async function scrape(svc: TestService, token?: string): Promise<Sample[]> {
  const res = await svc.request('/metrics', { key: null, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await res.text());
}

describe('GET /metrics after a few turns', () => {
  let svc: TestService;
  let samples: Sample[];
  let sessionId: string;
  const usage = { input: 0, output: 0 };

  before(async () => {
    svc = await startService({ env: { RATE_LIMIT_PER_MINUTE: '1000' } });
    const { fake } = svc;
    const add = (u: { input_tokens: number; output_tokens: number }) => {
      usage.input += u.input_tokens;
      usage.output += u.output_tokens;
    };
    // 1. A plain turn.
    fake.enqueue({ text: 'Hello there', usage: { prompt_tokens: 7, completion_tokens: 3 } });
    let res = await svc.chat({ message: 'hi' });
    assert.equal(res.status, 200);
    const first = (await res.json()) as { session_id: string; usage: { input_tokens: number; output_tokens: number } };
    sessionId = first.session_id;
    add(first.usage);
    // 2. A turn with two tool calls: one answers, one fails (arguments the schema refuses).
    fake.enqueue(
      {
        toolCalls: [
          { id: 'c1', name: 'calculator', arguments: { expression: '2+2' } },
          { id: 'c2', name: 'calculator', arguments: { expression: 42 } },
        ],
      },
      { text: 'It is 4', usage: { prompt_tokens: 20, completion_tokens: 4 } },
    );
    res = await svc.chat({ message: 'what is 2+2?', session_id: sessionId });
    assert.equal(res.status, 200);
    const second = (await res.json()) as { tool_calls: Array<{ result: unknown }>; usage: { input_tokens: number; output_tokens: number } };
    assert.equal(second.tool_calls.length, 2);
    add(second.usage);
    // 3. A streamed turn.
    fake.enqueue({ text: 'Streamed', chunks: ['Str', 'eam', 'ed'], usage: { prompt_tokens: 5, completion_tokens: 3 } });
    res = await svc.stream({ message: 'stream it' });
    assert.equal(res.status, 200);
    const streamed = await res.text();
    const end = streamed
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as { type: string; usage?: { input_tokens: number; output_tokens: number } })
      .find((e) => e.type === 'end');
    add(end!.usage!);
    // 4. The provider fails (no retries in tests): an upstream error.
    fake.enqueue({ error: { status: 500 } });
    res = await svc.chat({ message: 'fail please' });
    assert.equal(res.status, 502);
    // A session read twice, two different ids: one route label.
    assert.equal((await svc.request(`/sessions/${sessionId}`)).status, 200);
    assert.equal((await svc.request('/sessions/no-such-session')).status, 404);
    assert.equal((await svc.request('/no/such/route/123')).status, 404);
    samples = await scrape(svc);
  });
  after(() => svc?.close());

  test('http_requests_total counts by route pattern, method and status', () => {
    const count = (route: string, method: string, status: string) => sampleSum(samples, 'http_requests_total', { route, method, status });
    assert.equal(count('/chat', 'POST', '200'), 2);
    assert.equal(count('/chat', 'POST', '502'), 1);
    assert.equal(count('/chat/stream', 'POST', '200'), 1, 'the stream is counted once, when it ended');
    assert.equal(count('/sessions/:id', 'GET', '200'), 1);
    assert.equal(count('/sessions/:id', 'GET', '404'), 1);
    assert.equal(count('unmatched', 'GET', '404'), 1);
    const routes = new Set(samples.filter((s) => s.name.startsWith('http_request')).map((s) => s.labels['route']));
    for (const route of routes) assert.ok(!route?.includes(sessionId) && !route?.includes('no-such'), `route label ${route} is a pattern`);
  });

  test('http_request_duration_seconds is a histogram by route', () => {
    assert.equal(sampleSum(samples, 'http_request_duration_seconds_count', { route: '/chat' }), 3);
    assert.equal(sampleSum(samples, 'http_request_duration_seconds_bucket', { route: '/chat/stream', le: '+Inf' }), 1);
    assert.ok(sampleSum(samples, 'http_request_duration_seconds_sum', { route: '/chat/stream' }) > 0);
  });

  test('runs: active, total by agent and status, durations, time to first token', () => {
    assert.equal(sampleSum(samples, 'agent_runs_active'), 0);
    assert.equal(sampleSum(samples, 'agent_runs_total', { agent: 'agent', status: 'completed' }), 3);
    assert.equal(sampleSum(samples, 'agent_runs_total', { agent: 'agent', status: 'failed' }), 1);
    assert.equal(sampleSum(samples, 'agent_run_duration_seconds_count'), 4);
    // Three runs wrote text; the failed one never did.
    assert.equal(sampleSum(samples, 'agent_time_to_first_token_seconds_count'), 3);
  });

  test('tokens by agent, model and direction match the usage the turns reported', () => {
    assert.equal(sampleSum(samples, 'agent_tokens_total', { agent: 'agent', model: 'fake-model', direction: 'input' }), usage.input);
    assert.equal(sampleSum(samples, 'agent_tokens_total', { agent: 'agent', model: 'fake-model', direction: 'output' }), usage.output);
    assert.ok(usage.input >= 32, `usage reported: ${JSON.stringify(usage)}`);
  });

  test('tool calls by outcome, upstream errors by code, default process metrics', () => {
    assert.equal(sampleSum(samples, 'agent_tool_calls_total', { tool: 'calculator', outcome: 'ok' }), 1);
    assert.equal(sampleSum(samples, 'agent_tool_calls_total', { tool: 'calculator', outcome: 'error' }), 1);
    assert.equal(sampleSum(samples, 'agent_upstream_errors_total', { code: 'upstream_error' }), 1);
    assert.equal(sampleSum(samples, 'rate_limited_total'), 0);
    assert.ok(samples.some((s) => s.name === 'process_resident_memory_bytes'));
    assert.ok(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds'));
  });
});

describe('rate_limited_total', () => {
  test('counts refusals by the rate limit, and /metrics itself is never limited', async () => {
    const svc = await startService({ transport: 'inject', env: { RATE_LIMIT_PER_MINUTE: '2' } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) statuses.push((await svc.request('/sessions')).status);
      assert.deepEqual(statuses, [200, 200, 429, 429]);
      for (let i = 0; i < 3; i++) await scrape(svc);
      const samples = await scrape(svc);
      assert.equal(sampleSum(samples, 'rate_limited_total'), 2);
      assert.equal(sampleSum(samples, 'http_requests_total', { route: '/sessions', status: '429' }), 2);
    } finally {
      await svc.close();
    }
  });
});

describe('a stream whose client hangs up', () => {
  test('is counted once, with the status it was sent, and its run as cancelled', async () => {
    const svc = await startService();
    try {
      svc.fake.enqueue({ text: 'x'.repeat(80), delayMs: 200 }); // 20 chunks, 4 s in all
      const ac = new AbortController();
      const res = await svc.stream({ message: 'talk for a while' }, KEY_A, ac.signal);
      const reader = res.body!.getReader();
      let text = '';
      while (!text.includes('"type":"token"')) text += new TextDecoder().decode((await reader.read()).value);
      const during = await scrape(svc);
      assert.equal(sampleSum(during, 'agent_runs_active'), 1);
      assert.equal(sampleSum(during, 'http_requests_total', { route: '/chat/stream' }), 0, 'not counted before it ends');
      ac.abort();
      await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
      const samples = await scrape(svc);
      assert.equal(sampleSum(samples, 'http_requests_total', { route: '/chat/stream' }), 1);
      assert.equal(sampleSum(samples, 'http_requests_total', { route: '/chat/stream', status: '200' }), 1);
      assert.equal(sampleSum(samples, 'agent_runs_total', { status: 'cancelled' }), 1);
      assert.equal(sampleSum(samples, 'agent_runs_active'), 0);
    } finally {
      await svc.close();
    }
  });
});

describe('METRICS_TOKEN', () => {
  test('when set, /metrics wants it as a bearer token; API keys are not enough', async () => {
    const token = 'scrape-token-0123456789';
    const svc = await startService({ transport: 'inject', env: { METRICS_TOKEN: token } });
    try {
      for (const headers of [{}, { authorization: 'Bearer wrong-token' }, { 'x-api-key': KEY_A }, { authorization: `Bearer ${KEY_A}` }]) {
        const res = await svc.request('/metrics', { key: null, headers });
        assert.equal(res.status, 401, JSON.stringify(headers));
        const body = (await res.json()) as { error: { code: string; message: string } };
        assert.equal(body.error.code, 'unauthorized');
      }
      assert.equal((await svc.request('/sessions', { key: 'not-a-key' })).status, 401);
      const samples = await scrape(svc, token);
      // Refused requests are counted like the others.
      assert.equal(sampleSum(samples, 'http_requests_total', { route: '/metrics', method: 'GET', status: '401' }), 4);
      assert.equal(sampleSum(samples, 'http_requests_total', { route: '/sessions', method: 'GET', status: '401' }), 1);
    } finally {
      await svc.close();
    }
  });
});

describe('WORKERS=2: one scrape answers for every worker', () => {
  let fake: FakeLlm;
  before(async () => {
    fake = await startFakeLlm();
    fake.setDefault({ text: 'ok', usage: { prompt_tokens: 3, completion_tokens: 1 } });
  });
  after(async () => {
    await stopAllChildren();
    await fake.close();
  });

  test('requests spread over both workers are all counted, whichever worker is scraped', async () => {
    const child = await startChild({
      env: { WORKERS: '2', VALID_API_KEYS: 'k', LOG_LEVEL: 'info', LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake' },
    });
    try {
      // /health answers once the first worker listens: wait for the second too.
      const listening = () =>
        new Set(
          child
            .logLines()
            .filter((l) => String(l['msg']).startsWith('Server listening'))
            .map((l) => l['pid']),
        ).size;
      await child.waitForOutput(() => listening() >= 2, 'stdout', 60_000);
      const turns = 10;
      // Each request on a new connection: the primary hands connections to the workers in turn.
      for (let i = 0; i < turns; i++) assert.equal((await child.request('/chat', { method: 'POST', key: 'k', json: { message: `turn ${i}` } })).status, 200);
      // Request lines are written when a response ends: wait until every one has arrived.
      const servedBy = (path: string) => {
        const lines = child.logLines().filter((l) => l['msg'] === 'request' && l['path'] === path);
        return { lines: lines.length, pids: new Set(lines.map((l) => l['pid'])).size };
      };
      await child.waitForOutput(() => servedBy('/chat').lines >= turns, 'stdout', 20_000);
      assert.equal(servedBy('/chat').pids, 2, 'both workers answered turns');
      // Scrapes on new connections too, so both workers answer some of them.
      for (let i = 0; i < 4; i++) {
        const res = await child.request('/metrics', { key: null });
        assert.equal(res.status, 200, res.text);
        const samples = parsePrometheus(res.text);
        assert.equal(sampleSum(samples, 'http_requests_total', { route: '/chat', status: '200' }), turns);
        assert.equal(sampleSum(samples, 'agent_runs_total', { status: 'completed' }), turns);
        assert.equal(sampleSum(samples, 'agent_tokens_total', { direction: 'input' }), turns * 3);
      }
      await child.waitForOutput(() => servedBy('/metrics').lines >= 4, 'stdout', 20_000);
      assert.equal(servedBy('/metrics').pids, 2, 'both workers answered scrapes');
    } finally {
      await child.stop();
    }
  });
});
