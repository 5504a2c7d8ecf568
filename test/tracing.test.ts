/**
 * Traces over OTLP/HTTP, received by an in-process collector: one /chat with a calculator call
 * gives `POST /chat` → `invoke_agent` → `chat` ×2 and `execute_tool`, with the GenAI attributes;
 * contents only with OTEL_RECORD_CONTENT; an incoming traceparent is continued; both encodings;
 * the last spans survive SIGTERM and log lines carry the trace id.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { startTracing } from '../src/telemetry/start-tracing.js';
import { startChild, stopAllChildren } from './support/child-service.js';
import { startFakeLlm } from './support/fake-llm.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './support/otlp-receiver.js';
import { startService, waitFor } from './support/service.js';

after(stopAllChildren);

const SERVER = 2;
const CLIENT = 3;
const INTERNAL = 1;
const ERROR = 2;

const CONTENT_KEYS = ['gen_ai.input.messages', 'gen_ai.output.messages', 'gen_ai.tool.call.arguments', 'gen_ai.tool.call.result'];

function only(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name);
  assert.equal(found.length, 1, `one span named ${name} (got ${spans.map((s) => s.name).join(', ')})`);
  return found[0]!;
}

/** One traced /chat that calls the calculator once, then answers; the service is closed (flushed) before returning. */
async function tracedTurn(receiver: OtlpReceiver, env: Record<string, string>, headers: Record<string, string> = {}) {
  const svc = await startService({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ...env } });
  let body: { session_id: string; reply: string };
  try {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_calc', name: 'calculator', arguments: { expression: '2+3*4' } }] }, { text: 'The answer is 14.' });
    const res = await svc.request('/chat', { method: 'POST', json: { message: 'What is 2+3*4?' }, headers });
    assert.equal(res.status, 200);
    body = (await res.json()) as typeof body;
  } finally {
    await svc.close();
  }
  return body;
}

/** The tree of one traced turn, checked span by span; returns the spans by role. */
function assertTurnTree(spans: ReceivedSpan[], sessionId: string) {
  const server = only(spans, 'POST /chat');
  const run = only(spans, 'invoke_agent agent');
  const chats = spans.filter((s) => s.name === 'chat fake-model');
  const tool = only(spans, 'execute_tool calculator');
  assert.equal(chats.length, 2);

  assert.equal(new Set([server, run, tool, ...chats].map((s) => s.traceId)).size, 1, 'one trace');
  assert.equal(run.parentSpanId, server.spanId);
  for (const s of [...chats, tool]) assert.equal(s.parentSpanId, run.spanId, `${s.name} under invoke_agent`);

  assert.equal(server.kind, SERVER);
  assert.equal(server.attributes['http.request.method'], 'POST');
  assert.equal(server.attributes['http.route'], '/chat');
  assert.equal(server.attributes['url.path'], '/chat');
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.notEqual(server.statusCode, ERROR);

  assert.equal(run.kind, INTERNAL);
  assert.equal(run.attributes['gen_ai.operation.name'], 'invoke_agent');
  assert.equal(run.attributes['gen_ai.agent.name'], 'agent');
  assert.equal(run.attributes['gen_ai.conversation.id'], sessionId);
  assert.equal(run.attributes['gen_ai.request.model'], 'fake-model');
  assert.deepEqual(run.attributes['gen_ai.response.finish_reasons'], ['stop']);
  const runInput = run.attributes['gen_ai.usage.input_tokens'] as number;
  assert.ok(runInput > 0);

  for (const c of chats) {
    assert.equal(c.kind, CLIENT);
    assert.equal(c.attributes['gen_ai.operation.name'], 'chat');
    assert.equal(c.attributes['gen_ai.request.model'], 'fake-model');
    assert.equal(typeof c.attributes['gen_ai.usage.input_tokens'], 'number');
    assert.equal(typeof c.attributes['gen_ai.usage.output_tokens'], 'number');
  }
  // The turn's usage is the sum of its model calls'.
  assert.equal(
    runInput,
    chats.reduce((n, c) => n + (c.attributes['gen_ai.usage.input_tokens'] as number), 0),
  );
  const reasons = chats.map((c) => c.attributes['gen_ai.response.finish_reasons']);
  assert.deepEqual(reasons.sort(), [['stop'], ['tool_calls']]);

  assert.equal(tool.kind, INTERNAL);
  assert.equal(tool.attributes['gen_ai.operation.name'], 'execute_tool');
  assert.equal(tool.attributes['gen_ai.tool.name'], 'calculator');
  assert.equal(tool.attributes['gen_ai.tool.call.id'], 'call_calc');
  assert.notEqual(tool.statusCode, ERROR);
  return { server, run, chats, tool };
}

describe('tracing', () => {
  test('http/json: one /chat with a tool call is a span tree with the GenAI attributes and no contents', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const { session_id } = await tracedTurn(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
      assert.ok(receiver.contentTypes.length > 0 && receiver.contentTypes.every((t) => t.startsWith('application/json')));
      const { server } = assertTurnTree(receiver.spans, session_id);
      assert.equal(server.parentSpanId, '', 'a request without traceparent starts a trace');
      assert.equal(server.resource['service.name'], 'agent-api');
      for (const s of receiver.spans) for (const key of CONTENT_KEYS) assert.equal(s.attributes[key], undefined, `${s.name} has no ${key}`);
    } finally {
      await receiver.close();
    }
  });

  test('http/protobuf (the default) with OTEL_RECORD_CONTENT=true: contents are recorded, and a traceparent is continued', async () => {
    const receiver = await startOtlpReceiver();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parentId = '00f067aa0ba902b7';
    try {
      const { session_id } = await tracedTurn(
        receiver,
        { OTEL_RECORD_CONTENT: 'true', OTEL_SERVICE_NAME: 'agents-east' },
        { traceparent: `00-${traceId}-${parentId}-01` },
      );
      assert.ok(receiver.contentTypes.length > 0 && receiver.contentTypes.every((t) => t === 'application/x-protobuf'));
      const { server, run, chats, tool } = assertTurnTree(receiver.spans, session_id);
      assert.equal(server.traceId, traceId);
      assert.equal(server.parentSpanId, parentId);
      assert.equal(server.resource['service.name'], 'agents-east');

      assert.deepEqual(JSON.parse(run.attributes['gen_ai.input.messages'] as string), [{ role: 'user', parts: [{ type: 'text', content: 'What is 2+3*4?' }] }]);
      const output = JSON.parse(run.attributes['gen_ai.output.messages'] as string) as Array<{ parts: Array<{ content: string }> }>;
      assert.equal(output[0]?.parts[0]?.content, 'The answer is 14.');
      assert.deepEqual(JSON.parse(tool.attributes['gen_ai.tool.call.arguments'] as string), { expression: '2+3*4' });
      assert.match(tool.attributes['gen_ai.tool.call.result'] as string, /14/);
      const first = chats.find((c) => (c.attributes['gen_ai.response.finish_reasons'] as string[])[0] === 'tool_calls')!;
      assert.match(first.attributes['gen_ai.input.messages'] as string, /What is 2\+3\*4\?/);
      assert.match(first.attributes['gen_ai.output.messages'] as string, /"tool_call".*calculator/);
    } finally {
      await receiver.close();
    }
  });

  test('a failing model call is an error on chat and invoke_agent, and a 5xx on the server span', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const svc = await startService({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } });
      try {
        svc.fake.enqueue({ error: { status: 500 } });
        const res = await svc.chat({ message: 'hi' });
        assert.equal(res.status, 502);
      } finally {
        await svc.close();
      }
      const chat = only(receiver.spans, 'chat fake-model');
      const run = only(receiver.spans, 'invoke_agent agent');
      const server = only(receiver.spans, 'POST /chat');
      for (const s of [chat, run]) {
        assert.equal(s.statusCode, ERROR, s.name);
        assert.equal(s.attributes['error.type'], 'upstream_error', s.name);
      }
      assert.equal(server.attributes['http.response.status_code'], 502);
      assert.equal(server.statusCode, ERROR);
      assert.equal(server.attributes['error.type'], '502');
    } finally {
      await receiver.close();
    }
  });

  test('a run that outlives its request (the client hung up, on_disconnect "continue") is still its child', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const svc = await startService({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } });
      try {
        svc.fake.enqueue({ text: 'one two three four', chunks: ['one ', 'two ', 'three ', 'four'], delayMs: 100 });
        const hangUp = new AbortController();
        const res = await svc.stream({ message: 'count', on_disconnect: 'continue' }, undefined, hangUp.signal);
        const reader = res.body!.getReader();
        // The first token arrived: the run is under way, and the client goes.
        for (let seen = ''; !seen.includes('"token"');) seen += new TextDecoder().decode((await reader.read()).value);
        hangUp.abort();
        await waitFor(() => svc.server.activeRuns === 0, 'the run to end on its own', 10_000);
      } finally {
        await svc.close();
      }
      const server = only(receiver.spans, 'POST /chat/stream');
      const run = only(receiver.spans, 'invoke_agent agent');
      assert.equal(run.parentSpanId, server.spanId);
      assert.equal(run.traceId, server.traceId);
      assert.ok(run.endTime > server.endTime, 'the run ended after its request');
      assert.equal(server.attributes['error.type'], undefined, 'the stream had begun: its status was sent');
      assert.deepEqual(run.attributes['gen_ai.response.finish_reasons'], ['stop']);
      assert.equal(only(receiver.spans, 'chat fake-model').parentSpanId, run.spanId);
    } finally {
      await receiver.close();
    }
  });

  test('route patterns name the spans, never raw paths', async () => {
    const receiver = await startOtlpReceiver();
    try {
      const svc = await startService({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } });
      try {
        assert.equal((await svc.request('/sessions/some-session-id')).status, 404);
        assert.equal((await svc.request('/no/such/route')).status, 404);
      } finally {
        await svc.close();
      }
      const names = receiver.spans.filter((s) => s.kind === SERVER).map((s) => s.name);
      assert.ok(names.includes('GET /sessions/:id'), names.join());
      const session = receiver.spans.find((s) => s.name === 'GET /sessions/:id')!;
      assert.equal(session.attributes['http.route'], '/sessions/:id');
      assert.equal(session.attributes['url.path'], '/sessions/some-session-id');
      assert.ok(names.includes('GET'), 'an unmatched route is named by its method alone');
      assert.ok(!names.some((n) => n.includes('some-session-id')));
    } finally {
      await receiver.close();
    }
  });

  test('no endpoint, or OTEL_SDK_DISABLED=true: no SDK starts and nothing is exported', async () => {
    const receiver = await startOtlpReceiver();
    try {
      assert.equal(startTracing({ protocol: 'http/json', serviceVersion: '0', disabled: false }), undefined);
      assert.equal(startTracing({ endpoint: receiver.url, protocol: 'http/json', serviceVersion: '0', disabled: true }), undefined);
      const svc = await startService({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_SDK_DISABLED: 'true' } });
      try {
        svc.fake.enqueue({ text: 'hello' });
        assert.equal((await svc.chat({ message: 'hi' })).status, 200);
      } finally {
        await svc.close();
      }
      assert.deepEqual(receiver.contentTypes, []);
    } finally {
      await receiver.close();
    }
  });

  test('OTEL_EXPORTER_OTLP_PROTOCOL=grpc is refused at start, naming the variable and what to use', () => {
    assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported: use http\/protobuf/);
    assert.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: grpc is not supported/);
    assert.throws(() => loadConfig({ OTEL_RECORD_CONTENT: 'yes' }), /OTEL_RECORD_CONTENT: must be true or false/);
  });

  test('the process: spans of the last turn are exported on SIGTERM, and its log lines carry the trace id', async () => {
    const receiver = await startOtlpReceiver();
    const fake = await startFakeLlm();
    try {
      const child = await startChild({
        env: {
          LOG_LEVEL: 'info',
          VALID_API_KEYS: 'k1',
          LLM_BASE_URL: fake.url,
          LLM_MODEL: 'fake-model',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`,
          OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        },
      });
      fake.enqueue({ text: 'hello' });
      const res = await child.fetch('/chat', { method: 'POST', key: 'k1', json: { message: 'hi' } });
      assert.equal(res.status, 200);
      child.signal('SIGTERM');
      assert.equal((await child.waitForExit(30_000)).code, 0);
      const server = only(receiver.spans, 'POST /chat');
      only(receiver.spans, 'invoke_agent agent');
      const line = child.logLines().find((l) => l['msg'] === 'request' && l['path'] === '/chat');
      assert.ok(line, child.stdout());
      assert.equal(line['trace_id'], server.traceId);
      assert.equal(line['span_id'], server.spanId);
    } finally {
      await stopAllChildren();
      await fake.close();
      await receiver.close();
    }
  });
});
