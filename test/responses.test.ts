/**
 * The OpenAI Responses API (/v1/responses) through real clients against the real service and the
 * fake upstream: the official `openai` client (create, stream, retrieve, cancel, previous_response_id,
 * store: false, a client function tool), the AI SDK's `@ai-sdk/openai` default (Responses) model,
 * and the OpenAI Agents SDK running one of its own function tools through us. Plus errors in
 * OpenAI's shape.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createOpenAI } from '@ai-sdk/openai';
import { Agent, run, setDefaultOpenAIClient, setTracingDisabled, tool as agentTool } from '@openai/agents';
import { generateText, streamText, tool, type ModelMessage, type ToolSet } from 'ai';
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { z } from 'zod';
import { KEY_A, startService, waitFor, type TestService } from './support/service.js';

function client(svc: TestService, apiKey = KEY_A): OpenAI {
  return new OpenAI({ apiKey, baseURL: `${svc.url}/v1`, maxRetries: 0 });
}

/** The non-system messages of the fake's latest request. */
function lastSent(svc: TestService) {
  const req = svc.fake.requests.at(-1);
  assert.ok(req, 'the fake received a request');
  return req.body.messages.filter((m) => m.role !== 'system');
}

async function rejectsWith<T extends new (...args: never[]) => Error>(p: Promise<unknown>, cls: T): Promise<InstanceType<T>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err as InstanceType<T>;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

describe('OpenAI Responses API', () => {
  let svc: TestService;
  let openai: OpenAI;
  before(async () => {
    svc = await startService();
    openai = client(svc);
  });
  after(() => svc.close());

  test('responses.create: the reply as an output_text message, usage, the run id as the id', async () => {
    svc.fake.enqueue({ text: 'Hello from the fake' });
    const response = await openai.responses.create({ model: 'agent', input: 'hi', temperature: 0.3, max_output_tokens: 50 });
    assert.match(response.id, /^run_/);
    assert.equal(response.object, 'response');
    assert.equal(response.status, 'completed');
    assert.equal(response.model, 'agent');
    assert.equal(response.output_text, 'Hello from the fake');
    assert.equal(response.output.length, 1);
    const [item] = response.output;
    assert.equal(item?.type, 'message');
    if (item?.type === 'message') assert.deepEqual(item.content, [{ type: 'output_text', text: 'Hello from the fake', annotations: [], logprobs: [] }]);
    assert.ok((response.usage?.total_tokens ?? 0) > 0);
    assert.equal(response.usage?.input_tokens_details.cached_tokens, 0);
    // The request's settings reached the model.
    const body = svc.fake.requests.at(-1)?.body;
    assert.equal(body?.['temperature'], 0.3);
    assert.equal(body?.['max_tokens'], 50);
    // The same run, on the native API.
    const runRes = await svc.request(`/runs/${response.id}`);
    assert.equal(((await runRes.json()) as { reply: string }).reply, 'Hello from the fake');
  });

  test('responses.stream: typed events in order with consecutive sequence numbers, and the final response', async () => {
    svc.fake.enqueue({ text: 'Streamed reply', chunks: ['Stream', 'ed ', 'reply'] });
    const stream = openai.responses.stream({ model: 'agent', input: 'stream please' });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const final = await stream.finalResponse();
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'response.created',
        'response.in_progress',
        'response.output_item.added',
        'response.content_part.added',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.delta',
        'response.output_text.done',
        'response.content_part.done',
        'response.output_item.done',
        'response.completed',
      ],
    );
    assert.deepEqual(
      events.map((e) => e.sequence_number),
      events.map((_, i) => i),
    );
    assert.equal(final.output_text, 'Streamed reply');
    assert.equal(final.status, 'completed');
    assert.match(final.id, /^run_/);
    // The SSE frames carry OpenAI's `event:` names.
    svc.fake.enqueue({ text: 'raw' });
    const raw = await svc.request('/v1/responses', { method: 'POST', json: { model: 'agent', input: 'x', stream: true } });
    const text = await raw.text();
    assert.match(text, /^event: response\.created\ndata: \{"type":"response\.created","sequence_number":0,/);
    assert.match(text, /event: response\.completed\ndata: /);
  });

  test('previous_response_id continues the session: the model sees the earlier turn', async () => {
    svc.fake.enqueue({ text: 'Nice to meet you, Ada.' }, { text: 'You are Ada.' });
    const first = await openai.responses.create({ model: 'agent', input: 'My name is Ada.' });
    const second = await openai.responses.create({ model: 'agent', input: 'What is my name?', previous_response_id: first.id });
    assert.equal(second.output_text, 'You are Ada.');
    assert.equal(second.previous_response_id, first.id);
    assert.deepEqual(
      lastSent(svc).map((m) => [m.role, m.content]),
      [
        ['user', 'My name is Ada.'],
        ['assistant', 'Nice to meet you, Ada.'],
        ['user', 'What is my name?'],
      ],
    );
  });

  test('store: false answers from the input items only, and cannot be continued', async () => {
    svc.fake.enqueue({ text: 'Blue.' });
    const response = await openai.responses.create({
      model: 'agent',
      store: false,
      input: [
        { role: 'developer', content: 'ignored: the agent has its own instructions' },
        { role: 'user', content: 'Remember: blue.' },
        { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Noted.', annotations: [] }] },
        { role: 'user', content: [{ type: 'input_text', text: 'Which colour?' }] },
      ],
    });
    assert.equal(response.output_text, 'Blue.');
    assert.equal((response as unknown as { store: boolean }).store, false);
    assert.deepEqual(
      lastSent(svc).map((m) => [m.role, m.content]),
      [
        ['user', 'Remember: blue.'],
        ['assistant', 'Noted.'],
        ['user', 'Which colour?'],
      ],
    );
    const err = await rejectsWith(openai.responses.create({ model: 'agent', input: 'more', previous_response_id: response.id }), OpenAI.NotFoundError);
    assert.equal(err.param, 'previous_response_id');
    const both = await rejectsWith(
      openai.responses.create({ model: 'agent', input: 'more', store: false, previous_response_id: response.id }),
      OpenAI.BadRequestError,
    );
    assert.equal(both.param, 'store');
  });

  test("the agent's own tool steps ride in agent_tool_calls, never as output items", async () => {
    svc.fake.enqueue({ toolCalls: [{ name: 'calculator', arguments: { expression: '6*7' } }] }, { text: 'It is 42.' });
    const response = await openai.responses.create({ model: 'agent', input: 'What is 6*7?' });
    assert.deepEqual(
      response.output.map((o) => o.type),
      ['message'],
    );
    assert.equal(response.output_text, 'It is 42.');
    const extra = (response as unknown as { agent_tool_calls: Array<{ name: string; result: unknown }> }).agent_tool_calls;
    assert.equal(extra[0]?.name, 'calculator');
    assert.deepEqual(extra[0]?.result, { expression: '6*7', result: 42 });
  });

  test('a client function tool: the call comes back as function_call, function_call_output answers it', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      { type: 'function', name: 'get_weather', description: 'Weather', strict: true, parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    ];
    svc.fake.enqueue({ toolCalls: [{ id: 'call_w1', name: 'get_weather', arguments: { city: 'Paris' } }] }, { text: 'Sunny in Paris.' });
    const first = await openai.responses.create({ model: 'agent', input: 'Weather in Paris?', tools, tool_choice: 'required' });
    assert.equal(first.status, 'completed');
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call', 'a function_call item');
    assert.equal(call.call_id, 'call_w1');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris' });
    assert.equal(call.status, 'completed');
    // The tool and the choice reached the model.
    const offered = svc.fake.requests.at(-1)?.body;
    assert.ok(offered?.tools?.some((t) => t.function.name === 'get_weather'));
    assert.equal(offered?.['tool_choice'], 'required');

    const second = await openai.responses.create({
      model: 'agent',
      previous_response_id: first.id,
      tools,
      input: [{ type: 'function_call_output', call_id: 'call_w1', output: '{"temp":22}' }],
    });
    assert.equal(second.output_text, 'Sunny in Paris.');
    const sent = lastSent(svc);
    assert.deepEqual(
      sent.map((m) => m.role),
      ['user', 'assistant', 'tool'],
    );
    assert.equal(sent[1]?.tool_calls?.[0]?.id, 'call_w1');
    assert.equal(sent[2]?.tool_call_id, 'call_w1');
    assert.match(sent[2]?.content ?? '', /temp/);
  });

  test('a stream with a client tool: function_call item and argument events; the final response has the call', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_s1', name: 'get_weather', arguments: { city: 'Rome' } }] });
    const stream = openai.responses.stream({
      model: 'agent',
      input: 'Weather in Rome?',
      tools: [{ type: 'function', name: 'get_weather', strict: false, parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    assert.deepEqual(types, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const final = await stream.finalResponse();
    const call = final.output[0];
    assert.ok(call?.type === 'function_call');
    assert.equal(call.call_id, 'call_s1');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Rome' });
  });

  test('a cut-short answer is incomplete; a model failure is an error status, or error + response.failed in a stream', async () => {
    svc.fake.enqueue({ text: 'Partial', finishReason: 'length' });
    const cut = await openai.responses.create({ model: 'agent', input: 'write a lot' });
    assert.equal(cut.status, 'incomplete');
    assert.deepEqual(cut.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(cut.output_text, 'Partial');

    svc.fake.enqueue({ error: { status: 500 } });
    const failed = await rejectsWith(openai.responses.create({ model: 'agent', input: 'fail' }), OpenAI.APIError);
    assert.ok((failed.status ?? 0) >= 500, `a 5xx, got ${failed.status}`);
    assert.equal((failed.error as { type?: string } | undefined)?.type, 'server_error');

    svc.fake.enqueue({ error: { status: 500 } });
    const res = await svc.request('/v1/responses', { method: 'POST', json: { model: 'agent', input: 'fail', stream: true } });
    const frames = (await res.text())
      .split('\n\n')
      .filter((f) => f.startsWith('event: '))
      .map((f) => JSON.parse(f.slice(f.indexOf('data: ') + 6)) as { type: string; code?: string; response?: { status: string; error: { code: string } } });
    assert.deepEqual(
      frames.map((f) => f.type),
      ['response.created', 'response.in_progress', 'error', 'response.failed'],
    );
    assert.ok(frames[2]?.code);
    assert.equal(frames[3]?.response?.status, 'failed');
    assert.equal(frames[3]?.response?.error.code, frames[2]?.code);
  });

  test('background: answers in_progress at once; retrieve polls it; a stream resumes after starting_after', async () => {
    svc.fake.enqueue({ text: 'Done in the background', delayMs: 300 });
    const started = await openai.responses.create({ model: 'agent', input: 'take your time', background: true });
    assert.equal(started.status, 'in_progress');
    assert.equal(started.background, true);
    let polled = await openai.responses.retrieve(started.id);
    for (let i = 0; i < 100 && polled.status === 'in_progress'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      polled = await openai.responses.retrieve(started.id);
    }
    assert.equal(polled.status, 'completed');
    assert.equal(polled.output_text, 'Done in the background');

    const all: ResponseStreamEvent[] = [];
    for await (const e of await openai.responses.retrieve(started.id, { stream: true })) all.push(e);
    const resumed: ResponseStreamEvent[] = [];
    for await (const e of await openai.responses.retrieve(started.id, { stream: true, starting_after: 4 })) resumed.push(e);
    assert.equal(all.at(-1)?.type, 'response.completed');
    assert.deepEqual(resumed, all.slice(5), 'the same events with the same numbers, those after 4');
  });

  test('a background response streams from another replica after starting_after, with the same sequence numbers', async () => {
    // A second service on the same database: it never ran the run, so it translates it from the stored log.
    const other = await startService({ dir: svc.dir, fake: svc.fake, keepDir: true });
    try {
      svc.fake.enqueue({ text: 'Across replicas we go', chunks: ['Across ', 'replicas ', 'we ', 'go'], delayMs: 200 });
      const started = await openai.responses.create({ model: 'agent', input: 'go elsewhere', background: true });
      const elsewhere: ResponseStreamEvent[] = [];
      for await (const e of await client(other).responses.retrieve(started.id, { stream: true, starting_after: 2 })) elsewhere.push(e);
      const here: ResponseStreamEvent[] = [];
      for await (const e of await openai.responses.retrieve(started.id, { stream: true })) here.push(e);
      assert.equal(here.at(-1)?.type, 'response.completed');
      assert.deepEqual(
        elsewhere.map((e) => [e.sequence_number, e.type]),
        here.slice(3).map((e) => [e.sequence_number, e.type]),
      );
      const done = elsewhere.at(-1);
      assert.ok(done?.type === 'response.completed');
      assert.equal(done.response.output_text, 'Across replicas we go');
    } finally {
      await other.close();
    }
  });

  test('cancel: a background response ends cancelled; cancelling again answers the same (idempotent)', async () => {
    svc.fake.enqueue({ hang: true });
    const started = await openai.responses.create({ model: 'agent', input: 'never mind', background: true });
    await svc.fake.waitForRequests(svc.fake.requests.length);
    const cancelled = await openai.responses.cancel(started.id);
    assert.equal(cancelled.id, started.id);
    assert.equal(cancelled.status, 'cancelled');
    const again = await openai.responses.cancel(started.id);
    assert.equal(again.status, 'cancelled');
    assert.equal((await openai.responses.retrieve(started.id)).status, 'cancelled');
  });

  test('images in input parts reach the model', async () => {
    svc.fake.enqueue({ text: 'A red pixel.' });
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
    const response = await openai.responses.create({
      model: 'agent',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            { type: 'input_image', image_url: `data:image/png;base64,${png}`, detail: 'auto' },
          ],
        },
      ],
    });
    assert.equal(response.output_text, 'A red pixel.');
    assert.match(JSON.stringify(svc.fake.requests.at(-1)?.body.messages), new RegExp(`data:image/png;base64,${png.slice(0, 20)}`));
  });

  test("errors in OpenAI's shape: unknown model 404, bad input 400 naming the field, no key 401", async () => {
    const unknown = await rejectsWith(openai.responses.create({ model: 'nope', input: 'hi' }), OpenAI.NotFoundError);
    assert.equal(unknown.code, 'model_not_found');
    const bad = await rejectsWith(
      openai.responses.create({ model: 'agent', input: [{ role: 'user', content: [{ type: 'input_text', text: '  ' }] }] }),
      OpenAI.BadRequestError,
    );
    assert.equal(bad.param, 'input[0].content');
    const badItem = await svc.request('/v1/responses', { method: 'POST', json: { model: 'agent', input: [{ type: 'mystery' }] } });
    assert.equal(badItem.status, 400);
    const body = (await badItem.json()) as { error: { type: string; param: string | null } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.param, 'input[0].type');
    const badRef = await rejectsWith(
      openai.responses.create({
        model: 'agent',
        input: [
          { type: 'item_reference', id: 'msg_0123abcd_0' },
          { role: 'user', content: 'hi' },
        ],
      }),
      OpenAI.BadRequestError,
    );
    assert.equal(badRef.param, 'input[0].id');
    await rejectsWith(client(svc, 'wrong-key').responses.create({ model: 'agent', input: 'hi' }), OpenAI.AuthenticationError);
    const missing = await svc.request('/v1/responses', { method: 'POST', key: null, json: { model: 'agent', input: 'hi' } });
    assert.equal(missing.status, 401);
    assert.ok(((await missing.json()) as { error: { message: string } }).error.message);
    await rejectsWith(openai.responses.retrieve('run_nope'), OpenAI.NotFoundError);
  });

  test('the AI SDK @ai-sdk/openai default model: generateText and streamText', async () => {
    const model = createOpenAI({ baseURL: `${svc.url}/v1`, apiKey: KEY_A })('agent');
    svc.fake.enqueue({ text: 'Hi from generateText' });
    const generated = await generateText({ model, prompt: 'hello', maxRetries: 0 });
    assert.equal(generated.text, 'Hi from generateText');
    assert.ok((generated.usage.totalTokens ?? 0) > 0);
    assert.equal(generated.finishReason, 'stop');

    svc.fake.enqueue({ text: 'Hi from streamText', chunks: ['Hi ', 'from ', 'streamText'] });
    const streamed = streamText({ model, prompt: 'hello', maxRetries: 0 });
    const deltas: string[] = [];
    for await (const d of streamed.textStream) deltas.push(d);
    assert.deepEqual(deltas, ['Hi ', 'from ', 'streamText']);
    assert.equal(await streamed.finishReason, 'stop');
  });

  test('the AI SDK with a client tool (no execute): the call comes back, in generateText and streamText', async () => {
    const model = createOpenAI({ baseURL: `${svc.url}/v1`, apiKey: KEY_A })('agent');
    // No execute: the caller runs it. (Typed as a ToolSet: inferred, a tool without execute does not fit one under exactOptionalPropertyTypes.)
    const tools: ToolSet = {
      lookup: tool({ description: 'Look a word up', inputSchema: z.object({ word: z.string() }) }),
    };
    svc.fake.enqueue({ toolCalls: [{ id: 'call_l1', name: 'lookup', arguments: { word: 'agent' } }] });
    const generated = await generateText({ model, prompt: 'define agent', tools, maxRetries: 0 });
    assert.equal(generated.finishReason, 'tool-calls');
    assert.deepEqual(
      generated.toolCalls.map((c) => [c.toolCallId, c.toolName, c.input]),
      [['call_l1', 'lookup', { word: 'agent' }]],
    );

    svc.fake.enqueue({ toolCalls: [{ id: 'call_l2', name: 'lookup', arguments: { word: 'api' } }] });
    const streamed = streamText({ model, prompt: 'define api', tools, maxRetries: 0 });
    const calls = await streamed.toolCalls;
    assert.deepEqual(
      calls.map((c) => [c.toolCallId, c.toolName, c.input]),
      [['call_l2', 'lookup', { word: 'api' }]],
    );
  });

  test('the AI SDK continuing a conversation: item_reference items resolve to our earlier output (text and a client call)', async () => {
    const model = createOpenAI({ baseURL: `${svc.url}/v1`, apiKey: KEY_A })('agent');
    // No execute: the caller runs it.
    const tools: ToolSet = { lookup: tool({ description: 'Look a word up', inputSchema: z.object({ word: z.string() }) }) };
    svc.fake.enqueue(
      { toolCalls: [{ id: 'call_r1', name: 'lookup', arguments: { word: 'run' } }] },
      { text: 'A run is one turn.' },
      { text: 'You asked about run.' },
    );
    const first = await generateText({ model, prompt: 'define run', tools, maxRetries: 0 });
    assert.equal(first.toolCalls[0]?.toolCallId, 'call_r1');
    const toolResult: ModelMessage = {
      role: 'tool',
      content: [{ type: 'tool-result', toolCallId: 'call_r1', toolName: 'lookup', output: { type: 'json', value: { definition: 'one turn' } } }],
    };
    const answered = await generateText({
      model,
      tools,
      maxRetries: 0,
      messages: [{ role: 'user', content: 'define run' }, ...first.response.messages, toolResult],
    });
    assert.equal(answered.text, 'A run is one turn.');
    const toolSent = lastSent(svc);
    assert.deepEqual(
      toolSent.map((m) => m.role),
      ['user', 'assistant', 'tool'],
    );
    assert.equal(toolSent[1]?.tool_calls?.[0]?.id, 'call_r1');

    const third = await generateText({
      model,
      maxRetries: 0,
      messages: [
        { role: 'user', content: 'define run' },
        ...first.response.messages,
        toolResult,
        ...answered.response.messages,
        { role: 'user', content: 'What did I ask?' },
      ],
    });
    assert.equal(third.text, 'You asked about run.');
    assert.deepEqual(
      lastSent(svc).map((m) => [m.role, m.content]),
      [
        ['user', 'define run'],
        ['assistant', null],
        ['tool', '{"definition":"one turn"}'],
        ['assistant', 'A run is one turn.'],
        ['user', 'What did I ask?'],
      ],
    );
  });

  test('the OpenAI Agents SDK: an agent on our /v1 runs its own function tool through function_call / function_call_output', async () => {
    setTracingDisabled(true);
    setDefaultOpenAIClient(client(svc));
    let asked: string | undefined;
    const getTime = agentTool({
      name: 'get_city_time',
      description: 'The time in a city',
      parameters: z.object({ city: z.string() }),
      execute: ({ city }) => {
        asked = city;
        return '10:30';
      },
    });
    const agent = new Agent({ name: 'Clock', instructions: 'Tell the time.', model: 'agent', tools: [getTime] });
    svc.fake.enqueue({ toolCalls: [{ id: 'call_t1', name: 'get_city_time', arguments: { city: 'Oslo' } }] }, { text: 'It is 10:30 in Oslo.' });
    const before = svc.fake.requests.length;
    const result = await run(agent, 'What time is it in Oslo?');
    assert.equal(asked, 'Oslo');
    assert.equal(result.finalOutput, 'It is 10:30 in Oslo.');
    await waitFor(() => svc.fake.requests.length === before + 2, 'two model calls');
    const sent = lastSent(svc);
    assert.equal(sent.at(-1)?.role, 'tool');
    assert.equal(sent.at(-1)?.tool_call_id, 'call_t1');
    assert.match(sent.at(-1)?.content ?? '', /10:30/);
  });
});
