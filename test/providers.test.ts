/**
 * LLM_PROVIDER: the service on each provider's own AI SDK package, against local fakes of the
 * provider's API (Anthropic Messages in full: fake-anthropic.ts; OpenAI Responses and Gemini
 * streaming here, in the few events a reply needs). The packages' HTTP clients, SSE parsing and
 * error handling are the real ones; nothing reaches the network.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { LanguageModelV3 } from '@ai-sdk/provider';
import { CHAT_MODEL_PROVIDERS, createChatModel, DEFAULT_BASE_URLS } from '../src/agent/chat-model.js';
import type { StreamEvent } from '../src/core/events.js';
import { startFakeAnthropic, type AnthropicContentBlock, type FakeAnthropic } from './support/fake-anthropic.js';
import { parseSse, readChunks, startService, waitFor, type StartOptions, type TestService } from './support/service.js';

type Ev<T extends StreamEvent['type']> = Extract<StreamEvent, { type: T }>;
interface ChatJson {
  reply: string;
  session_id: string;
  finish_reason: string;
  usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  tool_calls: Array<{ id: string; name: string; arguments: unknown; result: unknown }>;
}
interface ErrorJson {
  error: { code: string; message: string };
}

const INSTRUCTIONS = 'You are the provider test assistant.';

async function withService(options: StartOptions, run: (svc: TestService) => Promise<void>): Promise<void> {
  const svc = await startService({ transport: 'inject', ...options });
  try {
    await run(svc);
    // The default provider's fake (startService starts one) is never asked: each test's provider is.
    assert.equal(svc.fake.requests.length, 0, 'nothing went to the OpenAI-compatible fake');
  } finally {
    await svc.close();
  }
}

async function streamEvents(svc: TestService, body: unknown): Promise<StreamEvent[]> {
  const res = await svc.stream(body);
  assert.equal(res.status, 200);
  return parseSse(await res.text()).events.map((e) => e.data);
}

const ofType = <T extends StreamEvent['type']>(events: StreamEvent[], type: T): Array<Ev<T>> => events.filter((e): e is Ev<T> => e.type === type);

function lastEnd(events: StreamEvent[]): Ev<'end'> {
  const end = events.at(-1);
  assert.ok(end?.type === 'end', JSON.stringify(events));
  return end;
}

const textOf = (content: string | AnthropicContentBlock[]): string => (typeof content === 'string' ? content : content.map((b) => b.text ?? '').join(''));

describe('LLM_PROVIDER=anthropic, against a fake Messages API', () => {
  let anthropic: FakeAnthropic;
  before(async () => {
    anthropic = await startFakeAnthropic({ apiKey: 'sk-ant-fake' });
  });
  after(() => anthropic.close());

  const env = (extra: Record<string, string> = {}) => ({
    env: {
      LLM_PROVIDER: 'anthropic',
      LLM_BASE_URL: anthropic.url,
      LLM_MODEL: 'claude-test',
      LLM_API_KEY: 'sk-ant-fake',
      AGENT_INSTRUCTIONS: INSTRUCTIONS,
      ...extra,
    },
  });
  /** The requests this test made (the fake is shared by the describe block). */
  const since = (n: number) => anthropic.requests.slice(n);

  test('a streamed reply: tokens in order, end with finish_reason stop and the usage Anthropic reported; /chat folds the next turn into JSON', async () => {
    await withService(env(), async (svc) => {
      const first = anthropic.requests.length;
      anthropic.enqueue({ text: 'Hello from Claude.', chunks: ['Hello', ' from', ' Claude.'], usage: { input_tokens: 21, output_tokens: 5 } });
      const events = await streamEvents(svc, { message: 'Say hello' });
      assert.deepEqual(
        ofType(events, 'token').map((e) => e.content),
        ['Hello', ' from', ' Claude.'],
      );
      const end = lastEnd(events);
      assert.equal(end.reply, 'Hello from Claude.');
      assert.equal(end.finish_reason, 'stop');
      assert.deepEqual(end.usage, { input_tokens: 21, output_tokens: 5, total_tokens: 26 });
      assert.equal(ofType(events, 'step_finish')[0]?.finish_reason, 'stop');

      // The same session through /chat: the history goes back as Anthropic messages.
      anthropic.enqueue({ text: 'Hello again.', usage: { input_tokens: 40, output_tokens: 3 } });
      const res = await svc.chat({ message: 'Once more', session_id: end.session_id });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      const body = JSON.parse(text) as ChatJson;
      assert.equal(body.reply, 'Hello again.');
      assert.equal(body.finish_reason, 'stop');
      assert.deepEqual(body.usage, { input_tokens: 40, output_tokens: 3, total_tokens: 43 });

      const [one, two] = since(first);
      assert.ok(one && two, 'two requests');
      assert.deepEqual(
        two.body.messages.map((m) => [m.role, textOf(m.content)]),
        [
          ['user', 'Say hello'],
          ['assistant', 'Hello from Claude.'],
          ['user', 'Once more'],
        ],
      );
    });
  });

  test('the request: POST /v1/messages with x-api-key, anthropic-version, the model, max_tokens, stream, the instructions as `system` and the tools', async () => {
    await withService(env(), async (svc) => {
      const first = anthropic.requests.length;
      anthropic.enqueue({ text: 'ok' });
      assert.equal((await svc.chat({ message: 'Check the wire' })).status, 200);
      const [req] = since(first);
      assert.ok(req);
      assert.equal(req.refused, undefined);
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/v1/messages');
      assert.equal(req.headers['x-api-key'], 'sk-ant-fake');
      assert.equal(req.headers['anthropic-version'], '2023-06-01');
      assert.equal(req.headers['authorization'], undefined, 'the key goes in x-api-key only');
      assert.equal(req.body.model, 'claude-test');
      assert.equal(req.body.stream, true);
      assert.ok(Number.isInteger(req.body.max_tokens) && req.body.max_tokens! > 0, 'max_tokens is required by the API');
      assert.deepEqual(
        (Array.isArray(req.body.system) ? req.body.system : [{ type: 'text', text: req.body.system }]).map((b) => b.text),
        [INSTRUCTIONS],
      );
      assert.deepEqual(
        req.body.messages.map((m) => m.role),
        ['user'],
        'the instructions are not a message',
      );
      assert.equal(textOf(req.body.messages[0]!.content), 'Check the wire');
      const calculator = req.body.tools?.find((t) => t.name === 'calculator');
      assert.ok(calculator, 'the built-in tools are offered');
      assert.deepEqual((calculator.input_schema as { required?: string[] }).required, ['expression']);
      assert.ok(req.body.tools?.some((t) => t.name === 'current_time'));
    });
  });

  test('a tool call: calculator runs, its result goes back as a tool_result block answering the tool_use, and the final reply arrives', async () => {
    await withService(env(), async (svc) => {
      const first = anthropic.requests.length;
      anthropic.enqueue(
        {
          text: 'Let me compute.',
          toolUses: [{ id: 'toolu_calc_1', name: 'calculator', input: { expression: '6*7' } }],
          usage: { input_tokens: 50, output_tokens: 20 },
        },
        { text: '6*7 is 42.', usage: { input_tokens: 90, output_tokens: 7 } },
      );
      const events = await streamEvents(svc, { message: 'What is 6*7?' });

      const deltas = ofType(events, 'tool_call_delta');
      assert.ok(deltas.length >= 2, 'the arguments stream in pieces');
      assert.ok(deltas.every((d) => d.id === 'toolu_calc_1' && d.name === 'calculator'));
      assert.deepEqual(JSON.parse(deltas.map((d) => d.arguments_delta).join('')), { expression: '6*7' });
      assert.deepEqual(ofType(events, 'tool_call'), [{ type: 'tool_call', id: 'toolu_calc_1', name: 'calculator', arguments: { expression: '6*7' } }]);
      const [result] = ofType(events, 'tool_result');
      assert.equal(result?.id, 'toolu_calc_1');
      assert.equal((result.result as { result: unknown }).result, 42);
      assert.deepEqual(
        ofType(events, 'step_finish').map((s) => s.finish_reason),
        ['tool_calls', 'stop'],
      );
      const end = lastEnd(events);
      assert.equal(end.finish_reason, 'stop');
      assert.ok(end.reply.endsWith('6*7 is 42.'), end.reply);
      assert.deepEqual(end.usage, { input_tokens: 140, output_tokens: 27, total_tokens: 167 });

      const requests = since(first);
      assert.equal(requests.length, 2);
      assert.deepEqual(
        requests.map((r) => r.refused),
        [undefined, undefined],
        'the real API would accept both',
      );
      const messages = requests[1]!.body.messages;
      assert.deepEqual(
        messages.map((m) => m.role),
        ['user', 'assistant', 'user'],
      );
      const assistant = messages[1]!.content as AnthropicContentBlock[];
      assert.deepEqual(assistant.find((b) => b.type === 'text')?.text, 'Let me compute.');
      const use = assistant.find((b) => b.type === 'tool_use');
      assert.deepEqual([use?.id, use?.name, use?.input], ['toolu_calc_1', 'calculator', { expression: '6*7' }]);
      const [toolResult, ...rest] = messages[2]!.content as AnthropicContentBlock[];
      assert.equal(rest.length, 0);
      assert.equal(toolResult?.type, 'tool_result');
      assert.equal(toolResult.tool_use_id, 'toolu_calc_1');
      assert.notEqual(toolResult.is_error, true);
      const content = typeof toolResult.content === 'string' ? toolResult.content : (toolResult.content ?? []).map((c) => c.text).join('');
      assert.equal((JSON.parse(content) as { result: unknown }).result, 42);

      // /chat reports the same call with its result.
      anthropic.enqueue({ toolUses: [{ id: 'toolu_calc_2', name: 'calculator', input: { expression: '2+3' } }] }, { text: 'Five.' });
      const body = (await (await svc.chat({ message: 'And 2+3?' })).json()) as ChatJson;
      assert.equal(body.reply, 'Five.');
      assert.deepEqual(
        body.tool_calls.map((c) => [c.id, c.name, c.arguments, (c.result as { result: unknown }).result]),
        [['toolu_calc_2', 'calculator', { expression: '2+3' }, 5]],
      );
    });
  });

  test('HTTP 500 (LLM_MAX_RETRIES=0): /chat answers 502 upstream_error without the provider’s words; a stream gets error then end(error)', async () => {
    await withService(env({ LLM_MAX_RETRIES: '0' }), async (svc) => {
      const first = anthropic.requests.length;
      anthropic.enqueue({ error: { status: 500, message: 'internal SECRET detail' } });
      const res = await svc.chat({ message: 'hi' });
      const text = await res.text();
      assert.equal(res.status, 502, text);
      assert.equal((JSON.parse(text) as ErrorJson).error.code, 'upstream_error');
      assert.ok(!text.includes('SECRET'), 'the provider message is not echoed');

      anthropic.enqueue({ error: { status: 500 } });
      const events = await streamEvents(svc, { message: 'hi again' });
      assert.equal(ofType(events, 'error')[0]?.code, 'upstream_error');
      assert.equal(lastEnd(events).finish_reason, 'error');
      assert.equal(since(first).length, 2, 'no retries');
    });
  });

  test('HTTP 429 with retry-after: 7: /chat answers 429 upstream_rate_limited with Retry-After; a stream gets that error (retry_after 7) then end(error)', async () => {
    await withService(env({ LLM_MAX_RETRIES: '0' }), async (svc) => {
      anthropic.enqueue({
        error: { status: 429, headers: { 'retry-after': '7' }, message: 'Number of request tokens has exceeded your per-minute rate limit' },
      });
      const res = await svc.chat({ message: 'hi' });
      const text = await res.text();
      assert.equal(res.status, 429, text);
      assert.equal(res.headers.get('retry-after'), '7');
      assert.equal((JSON.parse(text) as ErrorJson).error.code, 'upstream_rate_limited');

      anthropic.enqueue({ error: { status: 429, headers: { 'retry-after': '7' } } });
      const events = await streamEvents(svc, { message: 'hi again' });
      const [error] = ofType(events, 'error');
      assert.equal(error?.code, 'upstream_rate_limited');
      assert.equal(error.retry_after, 7);
      assert.equal(lastEnd(events).finish_reason, 'error');
    });
  });

  test('overloaded (HTTP 529, or an `error` event opening the stream) is retried; once text has gone out, a stream error ends the turn', async () => {
    await withService(env({ LLM_MAX_RETRIES: '1' }), async (svc) => {
      const first = anthropic.requests.length;
      anthropic.enqueue({ error: { status: 529, headers: { 'retry-after': '0' } } }, { text: 'Back after 529.' });
      const res = await svc.chat({ message: 'one' });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal((JSON.parse(text) as ChatJson).reply, 'Back after 529.');
      assert.equal(since(first).length, 2);

      // The provider reads the opening event before it answers, so this fails the call, not the stream.
      anthropic.enqueue({ streamError: { type: 'overloaded_error', message: 'Overloaded' } }, { text: 'Back after the event.' });
      const again = (await (await svc.chat({ message: 'two' })).json()) as ChatJson;
      assert.equal(again.reply, 'Back after the event.');
      assert.equal(since(first).length, 4);

      anthropic.enqueue({ streamError: { type: 'overloaded_error', message: 'Overloaded' }, text: 'Partial answ' });
      const events = await streamEvents(svc, { message: 'three' });
      assert.equal(
        ofType(events, 'token')
          .map((e) => e.content)
          .join(''),
        'Partial answ',
      );
      assert.equal(ofType(events, 'error')[0]?.code, 'upstream_error');
      assert.equal(lastEnd(events).finish_reason, 'error');
      assert.equal(since(first).length, 5, 'output had gone out: no retry');
    });
  });

  test('a client hanging up a stream aborts the request to Anthropic', async () => {
    await withService({ ...env(), transport: 'socket' }, async (svc) => {
      const first = anthropic.requests.length;
      anthropic.enqueue({ text: 'a slow answer that never finishes', delayMs: 200 });
      const ac = new AbortController();
      const res = await svc.stream({ message: 'take your time' }, undefined, ac.signal);
      assert.equal(res.status, 200);
      let received = '';
      const reading = readChunks(res, (t) => (received += t)).catch(() => undefined);
      await waitFor(() => received.includes('"type":"token"'), 'the first token');
      ac.abort();
      await reading;
      await anthropic.waitForAbort(first);
      assert.equal(anthropic.requests[first]?.finished, false);
    });
  });

  test('the fake refuses what Anthropic refuses, so "the real API would accept it" above means something', async () => {
    const first = anthropic.requests.length;
    const post = async (body: unknown, headers: Record<string, string> = { 'x-api-key': 'sk-ant-fake', 'anthropic-version': '2023-06-01' }) => {
      const res = await fetch(`${anthropic.url}/messages`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as { type: string; error: { type: string; message: string } } };
    };
    const base = { model: 'claude-test', max_tokens: 100, stream: true };
    const use = { type: 'tool_use', id: 'toolu_x', name: 'calculator', input: {} };
    const result = (id: string) => ({ type: 'tool_result', tool_use_id: id, content: '{}' });
    const cases: Array<[string, Awaited<ReturnType<typeof post>>, number, string, RegExp]> = [
      [
        'no key',
        await post({ ...base, messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' }),
        401,
        'authentication_error',
        /x-api-key/,
      ],
      [
        'a wrong key',
        await post({ ...base, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': 'nope', 'anthropic-version': '2023-06-01' }),
        401,
        'authentication_error',
        /x-api-key/,
      ],
      [
        'no version',
        await post({ ...base, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': 'sk-ant-fake' }),
        400,
        'invalid_request_error',
        /anthropic-version/,
      ],
      [
        'no max_tokens',
        await post({ model: 'claude-test', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
        400,
        'invalid_request_error',
        /max_tokens/,
      ],
      ['a system message', await post({ ...base, messages: [{ role: 'system', content: 'be nice' }] }), 400, 'invalid_request_error', /messages\.0\.role/],
      [
        'a tool_use left unanswered',
        await post({
          ...base,
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: [use] },
            { role: 'user', content: 'next' },
          ],
        }),
        400,
        'invalid_request_error',
        /toolu_x/,
      ],
      [
        'a tool_result answering nothing',
        await post({
          ...base,
          messages: [
            { role: 'user', content: 'hi' },
            { role: 'assistant', content: [use] },
            { role: 'user', content: [result('toolu_x'), result('toolu_y')] },
          ],
        }),
        400,
        'invalid_request_error',
        /toolu_y/,
      ],
    ];
    for (const [what, res, status, type, message] of cases) {
      assert.equal(res.status, status, what);
      assert.equal(res.body.type, 'error', what);
      assert.equal(res.body.error.type, type, what);
      assert.match(res.body.error.message, message, what);
    }
    assert.ok(anthropic.requests.slice(first).every((r) => r.refused !== undefined));
    const ok = await fetch(`${anthropic.url}/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-ant-fake', 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({
        ...base,
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: [use] },
          { role: 'user', content: [result('toolu_x')] },
        ],
      }),
    });
    assert.equal(ok.status, 200, 'a well-formed exchange is answered');
    assert.match(await ok.text(), /event: message_stop/);
  });

  test('configured by LLM_MODEL and LLM_API_KEY alone (LLM_BASE_URL defaults); without LLM_API_KEY the 503 says what to set', async () => {
    await withService({ noModel: true, env: { LLM_PROVIDER: 'anthropic', LLM_MODEL: 'claude-test', LLM_API_KEY: 'sk-ant-x' } }, async (svc) => {
      assert.equal((await svc.request('/ready', { key: null })).status, 200, 'no LLM_BASE_URL needed');
    });
    await withService({ noModel: true, env: { LLM_PROVIDER: 'anthropic', LLM_MODEL: 'claude-test' } }, async (svc) => {
      const first = anthropic.requests.length;
      const res = await svc.chat({ message: 'hi' });
      const body = (await res.json()) as ErrorJson;
      assert.equal(res.status, 503);
      assert.equal(body.error.code, 'model_not_configured');
      assert.match(body.error.message, /LLM_PROVIDER=anthropic/);
      assert.match(body.error.message, /set LLM_API_KEY/);
      assert.doesNotMatch(body.error.message, /set LLM_MODEL|set LLM_BASE_URL/);
      const ready = (await (await svc.request('/ready', { key: null })).json()) as ErrorJson;
      assert.match(ready.error.message, /LLM_API_KEY/);
      assert.equal(anthropic.requests.length, first);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// OpenAI (Responses API) and Google (Gemini): a recording server answering what each test queues.

interface Recorded {
  method: string;
  /** Path and query. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}
type Answer = (res: http.ServerResponse) => void;
interface Recorder {
  /** The server's origin, without a path. */
  origin: string;
  requests: Recorded[];
  answer(...answers: Answer[]): void;
  close(): Promise<void>;
}

async function startRecorder(): Promise<Recorder> {
  const requests: Recorded[] = [];
  const answers: Answer[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      const answer = answers.shift();
      if (answer) answer(res);
      else res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"recorder: no answer queued"}}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    answer: (...a) => answers.push(...a),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

const sse =
  (events: Array<Record<string, unknown>>, { named = false } = {}): Answer =>
  (res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const e of events) res.write(`${named ? `event: ${String(e['type'])}\n` : ''}data: ${JSON.stringify(e)}\n\n`);
    res.end();
  };
const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (res) => {
    res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(body));
  };

/** A Responses API stream: one message item of `pieces`, or one function call, then response.completed with the usage. */
function responsesStream(
  output: { text: string[] } | { call: { id: string; name: string; arguments: string } },
  usage: { input_tokens: number; output_tokens: number },
): Answer {
  let seq = 0;
  const ev = (type: string, fields: Record<string, unknown>) => ({ type, sequence_number: seq++, ...fields });
  const events = [ev('response.created', { response: { id: 'resp_fake', created_at: 0, model: 'gpt-test' } })];
  if ('text' in output) {
    const item = { type: 'message', id: 'msg_fake' };
    events.push(ev('response.output_item.added', { output_index: 0, item }));
    for (const delta of output.text) events.push(ev('response.output_text.delta', { item_id: 'msg_fake', output_index: 0, content_index: 0, delta }));
    events.push(ev('response.output_item.done', { output_index: 0, item }));
  } else {
    const { id, name, arguments: args } = output.call;
    const half = Math.ceil(args.length / 2);
    events.push(ev('response.output_item.added', { output_index: 0, item: { type: 'function_call', id: 'fc_fake', call_id: id, name, arguments: '' } }));
    for (const delta of [args.slice(0, half), args.slice(half)])
      events.push(ev('response.function_call_arguments.delta', { item_id: 'fc_fake', output_index: 0, delta }));
    events.push(
      ev('response.output_item.done', {
        output_index: 0,
        item: { type: 'function_call', id: 'fc_fake', call_id: id, name, arguments: args, status: 'completed' },
      }),
    );
  }
  events.push(ev('response.completed', { response: { usage } }));
  return sse(events, { named: true });
}

describe('LLM_PROVIDER=openai: the Responses API', () => {
  let server: Recorder;
  before(async () => {
    server = await startRecorder();
  });
  after(() => server.close());
  const env = (extra: Record<string, string> = {}) => ({
    env: {
      LLM_PROVIDER: 'openai',
      LLM_BASE_URL: `${server.origin}/v1`,
      LLM_MODEL: 'gpt-test',
      LLM_API_KEY: 'sk-openai-fake',
      AGENT_INSTRUCTIONS: INSTRUCTIONS,
      ...extra,
    },
  });

  test('POST {LLM_BASE_URL}/responses with the bearer key, the model, the instructions, the input and the tools; the reply streams back', async () => {
    await withService(env(), async (svc) => {
      const first = server.requests.length;
      server.answer(responsesStream({ text: ['Hi ', 'from ', 'Responses.'] }, { input_tokens: 12, output_tokens: 3 }));
      const events = await streamEvents(svc, { message: 'Say hi' });
      assert.deepEqual(
        ofType(events, 'token').map((e) => e.content),
        ['Hi ', 'from ', 'Responses.'],
      );
      const end = lastEnd(events);
      assert.equal(end.finish_reason, 'stop');
      assert.deepEqual(end.usage, { input_tokens: 12, output_tokens: 3, total_tokens: 15 });

      const [req] = server.requests.slice(first);
      assert.ok(req);
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/v1/responses');
      assert.equal(req.headers['authorization'], 'Bearer sk-openai-fake');
      assert.equal(req.body['model'], 'gpt-test');
      assert.equal(req.body['stream'], true);
      const input = req.body['input'] as Array<{ role?: string; content?: unknown }>;
      const system = input.find((m) => m.role === 'system' || m.role === 'developer');
      assert.equal(system?.content, INSTRUCTIONS);
      assert.deepEqual(input.find((m) => m.role === 'user')?.content, [{ type: 'input_text', text: 'Say hi' }]);
      const tools = req.body['tools'] as Array<{ type: string; name: string }>;
      assert.ok(tools.some((t) => t.type === 'function' && t.name === 'calculator'));
    });
  });

  test('a function call: its output goes back as function_call + function_call_output items', async () => {
    await withService(env(), async (svc) => {
      const first = server.requests.length;
      server.answer(
        responsesStream({ call: { id: 'call_r1', name: 'calculator', arguments: '{"expression":"6*7"}' } }, { input_tokens: 20, output_tokens: 8 }),
        responsesStream({ text: ['42.'] }, { input_tokens: 40, output_tokens: 2 }),
      );
      const body = (await (await svc.chat({ message: 'What is 6*7?' })).json()) as ChatJson;
      assert.equal(body.reply, '42.');
      assert.deepEqual(
        body.tool_calls.map((c) => [c.id, c.name, c.arguments]),
        [['call_r1', 'calculator', { expression: '6*7' }]],
      );
      const second = server.requests[first + 1];
      assert.ok(second, 'a second request');
      const items = (second.body['input'] as Array<{ type?: string; call_id?: string; name?: string; arguments?: string; output?: unknown }>).filter((i) =>
        i.type?.startsWith('function_call'),
      );
      assert.deepEqual(
        items.map((i) => [i.type, i.call_id]),
        [
          ['function_call', 'call_r1'],
          ['function_call_output', 'call_r1'],
        ],
      );
      assert.equal((JSON.parse(String(items[1]!.output)) as { result: unknown }).result, 42);
    });
  });

  test('HTTP 429 with retry-after: 7 → 429 upstream_rate_limited with Retry-After', async () => {
    await withService(env({ LLM_MAX_RETRIES: '0' }), async (svc) => {
      server.answer(json(429, { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } }, { 'retry-after': '7' }));
      const res = await svc.chat({ message: 'hi' });
      const text = await res.text();
      assert.equal(res.status, 429, text);
      assert.equal(res.headers.get('retry-after'), '7');
      assert.equal((JSON.parse(text) as ErrorJson).error.code, 'upstream_rate_limited');
    });
  });
});

describe('LLM_PROVIDER=google: the Gemini API', () => {
  let server: Recorder;
  before(async () => {
    server = await startRecorder();
  });
  after(() => server.close());
  const env = (extra: Record<string, string> = {}) => ({
    env: {
      LLM_PROVIDER: 'google',
      LLM_BASE_URL: `${server.origin}/v1beta`,
      LLM_MODEL: 'gemini-test',
      LLM_API_KEY: 'g-fake',
      AGENT_INSTRUCTIONS: INSTRUCTIONS,
      ...extra,
    },
  });

  test('POST {LLM_BASE_URL}/models/<model>:streamGenerateContent with x-goog-api-key, systemInstruction, contents and tools; the reply streams back', async () => {
    await withService(env(), async (svc) => {
      const first = server.requests.length;
      server.answer(
        sse([
          { candidates: [{ content: { role: 'model', parts: [{ text: 'Hi from ' }] }, index: 0 }] },
          {
            candidates: [{ content: { role: 'model', parts: [{ text: 'Gemini.' }] }, finishReason: 'STOP', index: 0 }],
            usageMetadata: { promptTokenCount: 14, candidatesTokenCount: 4, totalTokenCount: 18 },
          },
        ]),
      );
      const events = await streamEvents(svc, { message: 'Say hi' });
      assert.deepEqual(
        ofType(events, 'token').map((e) => e.content),
        ['Hi from ', 'Gemini.'],
      );
      const end = lastEnd(events);
      assert.equal(end.finish_reason, 'stop');
      assert.deepEqual(end.usage, { input_tokens: 14, output_tokens: 4, total_tokens: 18 });

      const [req] = server.requests.slice(first);
      assert.ok(req);
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/v1beta/models/gemini-test:streamGenerateContent?alt=sse');
      assert.equal(req.headers['x-goog-api-key'], 'g-fake');
      assert.deepEqual(req.body['systemInstruction'], { parts: [{ text: INSTRUCTIONS }] });
      assert.deepEqual(req.body['contents'], [{ role: 'user', parts: [{ text: 'Say hi' }] }]);
      const tools = req.body['tools'] as Array<{ functionDeclarations?: Array<{ name: string }> }>;
      assert.ok(tools.some((t) => t.functionDeclarations?.some((f) => f.name === 'calculator')));
    });
  });

  test('HTTP 500 → upstream_error on /chat and on a stream', async () => {
    await withService(env({ LLM_MAX_RETRIES: '0' }), async (svc) => {
      const googleError = { error: { code: 500, message: 'Internal error SECRET', status: 'INTERNAL' } };
      server.answer(json(500, googleError));
      const res = await svc.chat({ message: 'hi' });
      const text = await res.text();
      assert.equal(res.status, 502, text);
      assert.equal((JSON.parse(text) as ErrorJson).error.code, 'upstream_error');
      assert.ok(!text.includes('SECRET'));

      server.answer(json(500, googleError));
      const events = await streamEvents(svc, { message: 'hi again' });
      assert.equal(ofType(events, 'error')[0]?.code, 'upstream_error');
      assert.equal(lastEnd(events).finish_reason, 'error');
    });
  });

  test('without LLM_MODEL the 503 names it, with an example', async () => {
    await withService({ noModel: true, env: { LLM_PROVIDER: 'google', LLM_API_KEY: 'g-fake' } }, async (svc) => {
      const body = (await (await svc.chat({ message: 'hi' })).json()) as ErrorJson;
      assert.equal(body.error.code, 'model_not_configured');
      assert.match(body.error.message, /LLM_PROVIDER=google: set LLM_MODEL \(e\.g\. gemini-/);
      assert.doesNotMatch(body.error.message, /set .*LLM_API_KEY/);
    });
  });
});

describe('createChatModel', () => {
  const prompt = [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }] }];

  /** Where `model` sends its first request, and with which headers (answered 401 in-process: nothing leaves the machine). */
  async function firstRequest(model: LanguageModelV3): Promise<{ url: string; headers: Headers }> {
    const realFetch = globalThis.fetch;
    let seen: { url: string; headers: Headers } | undefined;
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit) => {
      seen = { url: input instanceof Request ? input.url : String(input), headers: new Headers(init?.headers) };
      return new Response('{"error":{"message":"no","type":"authentication_error"}}', { status: 401, headers: { 'content-type': 'application/json' } });
    };
    try {
      await assert.rejects(async () => model.doStream({ prompt }));
    } finally {
      globalThis.fetch = realFetch;
    }
    assert.ok(seen, 'a request was made');
    return seen;
  }

  test('without a baseURL, openai, anthropic and google use their public endpoint, whatever OPENAI_BASE_URL or ANTHROPIC_BASE_URL say', async () => {
    const saved = { OPENAI_BASE_URL: process.env['OPENAI_BASE_URL'], ANTHROPIC_BASE_URL: process.env['ANTHROPIC_BASE_URL'] };
    process.env['OPENAI_BASE_URL'] = 'http://127.0.0.1:9/not-this';
    process.env['ANTHROPIC_BASE_URL'] = 'http://127.0.0.1:9/not-this';
    try {
      const openai = await firstRequest(createChatModel({ provider: 'openai', model: 'gpt-test', apiKey: 'k1' }));
      assert.equal(openai.url, `${DEFAULT_BASE_URLS.openai}/responses`);
      assert.equal(openai.headers.get('authorization'), 'Bearer k1');

      const anthropic = await firstRequest(createChatModel({ provider: 'anthropic', model: 'claude-test', apiKey: 'k2' }));
      assert.equal(anthropic.url, `${DEFAULT_BASE_URLS.anthropic}/messages`);
      assert.equal(anthropic.headers.get('x-api-key'), 'k2');

      const google = await firstRequest(createChatModel({ provider: 'google', model: 'gemini-test', apiKey: 'k3' }));
      assert.equal(google.url, `${DEFAULT_BASE_URLS.google}/models/gemini-test:streamGenerateContent?alt=sse`);
      assert.equal(google.headers.get('x-goog-api-key'), 'k3');
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('provider defaults to openai-compatible (Chat Completions at baseURL), which needs a baseURL; an unknown provider is refused', async () => {
    const compatible = await firstRequest(createChatModel({ baseURL: 'http://127.0.0.1:9/v1', model: 'm' }));
    assert.equal(compatible.url, 'http://127.0.0.1:9/v1/chat/completions');
    assert.equal(compatible.headers.get('authorization'), null, 'no key, no Authorization header');
    assert.throws(
      () => createChatModel({ model: 'm' }),
      (err: unknown) => err instanceof TypeError && /openai-compatible.*baseURL/.test(err.message),
    );
    assert.throws(
      () => createChatModel({ provider: 'claude' as never, baseURL: 'http://x', model: 'm' }),
      (err: unknown) => err instanceof TypeError && CHAT_MODEL_PROVIDERS.every((p) => err.message.includes(p)),
    );
  });
});
