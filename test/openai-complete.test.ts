/**
 * The whole of Chat Completions through real clients (the official `openai` SDK and LangChain's
 * ChatOpenAI) against the real service and the fake model: client tools and their round trip
 * (stateless and in a stored session, streamed too), tool_choice, response_format, the sampling
 * parameters as the model receives them, images and files, `model` picking the agent, and the 400s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AIMessage, HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import { ChatOpenAI } from '@langchain/openai';
import OpenAI from 'openai';
import { z } from 'zod';
import { createAgent } from '../src/agent/agent.js';
import { createChatModel } from '../src/agent/chat-model.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { KEY_A, startService, type TestService } from './support/service.js';

type Tool = OpenAI.Chat.Completions.ChatCompletionTool;

const WEATHER: Tool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
    strict: true,
  },
};

/** A 1×1 PNG. */
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

interface WireBody {
  messages: Array<{ role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string }>;
  tools?: Array<{ type: string; function: { name: string; parameters?: unknown; strict?: boolean } }>;
  [field: string]: unknown;
}

/** What the fake model received last, as sent (content may be parts). */
function lastBody(fake: FakeLlm): WireBody {
  const req = fake.requests.at(-1);
  assert.ok(req, 'the fake received a request');
  return JSON.parse(req.rawBody) as WireBody;
}

const withoutSystem = (body: WireBody) => body.messages.filter((m) => m.role !== 'system');

async function rejectsWith<T extends new (...args: never[]) => Error>(p: Promise<unknown>, cls: T): Promise<InstanceType<T>> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err as InstanceType<T>;
  }
  assert.fail(`expected ${cls.name}, but it resolved`);
}

describe('Chat Completions, complete (openai SDK)', () => {
  let svc: TestService;
  let openai: OpenAI;
  before(async () => {
    svc = await startService();
    openai = new OpenAI({ apiKey: KEY_A, baseURL: `${svc.url}/v1`, maxRetries: 0 });
  });
  after(() => svc.close());

  test('client tools round trip: the call comes back, the tool message answers it, the model sees both in order', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_w', name: 'get_weather', arguments: { city: 'Oslo' } }] });
    const user = { role: 'user' as const, content: 'Weather in Oslo?' };
    const first = await openai.chat.completions.create({ model: 'agent', messages: [user], tools: [WEATHER] });
    const choice = first.choices[0];
    assert.equal(choice?.finish_reason, 'tool_calls');
    assert.equal(choice?.message.content, null);
    assert.deepEqual(choice?.message.tool_calls, [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
    assert.deepEqual((first as unknown as { agent_tool_calls: unknown[] }).agent_tool_calls, []);
    // Offered beside the agent's own tools, strict kept.
    const offered = lastBody(svc.fake).tools ?? [];
    assert.ok(offered.some((t) => t.function.name === 'calculator'));
    const weather = offered.find((t) => t.function.name === 'get_weather');
    assert.deepEqual(weather?.function.parameters, WEATHER.function.parameters);
    assert.equal(weather?.function.strict, true);

    svc.fake.enqueue({ text: 'Sunny in Oslo.' });
    const second = await openai.chat.completions.create({
      model: 'agent',
      tools: [WEATHER],
      messages: [user, choice.message, { role: 'tool', tool_call_id: 'call_w', content: 'Sunny, 21 C' }],
    });
    assert.equal(second.choices[0]?.message.content, 'Sunny in Oslo.');
    assert.equal(second.choices[0]?.finish_reason, 'stop');
    assert.deepEqual(withoutSystem(lastBody(svc.fake)), [
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_w', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      { role: 'tool', tool_call_id: 'call_w', content: 'Sunny, 21 C' },
    ]);
  });

  test('in a stored session the trailing tool messages are stored and answered', async () => {
    const headers = { 'X-Session-Id': `tools-${Date.now()}` };
    svc.fake.enqueue({ toolCalls: [{ id: 'call_s', name: 'get_weather', arguments: { city: 'Rome' } }] });
    const user = { role: 'user' as const, content: 'Weather in Rome?' };
    const first = await openai.chat.completions.create({ model: 'agent', messages: [user], tools: [WEATHER] }, { headers });
    assert.equal(first.choices[0]?.finish_reason, 'tool_calls');

    svc.fake.enqueue({ text: 'Warm in Rome.' });
    const tool = { role: 'tool' as const, tool_call_id: 'call_s', content: '{"temp":30}' };
    const second = await openai.chat.completions.create({ model: 'agent', messages: [user, first.choices[0].message, tool], tools: [WEATHER] }, { headers });
    assert.equal(second.choices[0]?.message.content, 'Warm in Rome.');
    assert.deepEqual(
      withoutSystem(lastBody(svc.fake)).map((m) => [m.role, m.tool_call_id ?? null, m.content]),
      [
        ['user', null, 'Weather in Rome?'],
        ['assistant', null, null],
        ['tool', 'call_s', '{"temp":30}'],
      ],
    );
    // And the session remembers the whole exchange for the next turn.
    svc.fake.enqueue({ text: 'Still warm.' });
    await openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'And now?' }] }, { headers });
    assert.deepEqual(
      withoutSystem(lastBody(svc.fake)).map((m) => m.role),
      ['user', 'assistant', 'tool', 'assistant', 'user'],
    );
  });

  test('a tool message answering no call in messages is a 400 naming it', async () => {
    const err = await rejectsWith(
      openai.chat.completions.create({
        model: 'agent',
        messages: [
          { role: 'user', content: 'hi' },
          { role: 'tool', tool_call_id: 'call_nowhere', content: 'x' },
        ],
      }),
      OpenAI.BadRequestError,
    );
    assert.equal(err.param, 'messages[1].tool_call_id');
  });

  test('tool_choice "required" and a named function reach the model; a name not among the tools is a 400', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_r', name: 'get_weather', arguments: { city: 'Paris' } }] });
    const required = await openai.chat.completions.create({
      model: 'agent',
      messages: [{ role: 'user', content: 'Anything' }],
      tools: [WEATHER],
      tool_choice: 'required',
    });
    assert.equal(lastBody(svc.fake)['tool_choice'], 'required');
    assert.equal(required.choices[0]?.finish_reason, 'tool_calls');
    assert.equal(required.choices[0]?.message.tool_calls?.[0]?.id, 'call_r');

    svc.fake.enqueue({ toolCalls: [{ id: 'call_n', name: 'get_weather', arguments: { city: 'Lima' } }] });
    await openai.chat.completions.create({
      model: 'agent',
      messages: [{ role: 'user', content: 'Anything' }],
      tools: [WEATHER],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    assert.deepEqual(lastBody(svc.fake)['tool_choice'], { type: 'function', function: { name: 'get_weather' } });

    svc.fake.enqueue({ text: 'No tools.' });
    await openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'Anything' }], tools: [WEATHER], tool_choice: 'none' });
    assert.equal(lastBody(svc.fake)['tool_choice'], 'none');

    const err = await rejectsWith(
      openai.chat.completions.create({
        model: 'agent',
        messages: [{ role: 'user', content: 'Anything' }],
        tools: [WEATHER],
        tool_choice: { type: 'function', function: { name: 'no_such_tool' } },
      }),
      OpenAI.BadRequestError,
    );
    assert.equal(err.param, 'tool_choice');
    assert.match(err.message, /no_such_tool/);
  });

  test('response_format json_schema (strict) and json_object reach the model', async () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    svc.fake.enqueue({ text: '{"answer":"yes"}' });
    const completion = await openai.chat.completions.create({
      model: 'agent',
      messages: [{ role: 'user', content: 'JSON please' }],
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
    });
    assert.deepEqual(JSON.parse(completion.choices[0]?.message.content ?? ''), { answer: 'yes' });
    assert.deepEqual(lastBody(svc.fake)['response_format'], { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } });

    svc.fake.enqueue({ text: '{}' });
    await openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'JSON' }], response_format: { type: 'json_object' } });
    assert.deepEqual(lastBody(svc.fake)['response_format'], { type: 'json_object' });
  });

  test('temperature, top_p, max_tokens, stop, seed and the penalties reach the model; out of range is a 400 naming the field', async () => {
    svc.fake.enqueue({ text: 'ok' });
    await openai.chat.completions.create({
      model: 'agent',
      messages: [{ role: 'user', content: 'params' }],
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 50,
      stop: ['END', 'STOP'],
      seed: 7,
      presence_penalty: 0.5,
      frequency_penalty: -0.5,
    });
    const body = lastBody(svc.fake);
    assert.deepEqual(
      { t: body['temperature'], p: body['top_p'], m: body['max_tokens'], s: body['stop'], seed: body['seed'] },
      { t: 0.3, p: 0.9, m: 50, s: ['END', 'STOP'], seed: 7 },
    );
    assert.equal(body['presence_penalty'], 0.5);
    assert.equal(body['frequency_penalty'], -0.5);

    svc.fake.enqueue({ text: 'ok' });
    await openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'params' }], max_completion_tokens: 20, stop: 'X' });
    assert.equal(lastBody(svc.fake)['max_tokens'], 20);
    assert.deepEqual(lastBody(svc.fake)['stop'], ['X']);

    for (const [field, value] of [
      ['temperature', 3],
      ['top_p', 1.5],
      ['max_tokens', 0],
      ['presence_penalty', -3],
    ] as const) {
      const err = await rejectsWith(
        openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: 'x' }], [field]: value }),
        OpenAI.BadRequestError,
      );
      assert.equal(err.param, field);
    }
  });

  test('n = 2 is a 400 naming n', async () => {
    const err = await rejectsWith(
      openai.chat.completions.create({ model: 'agent', n: 2, messages: [{ role: 'user', content: 'two' }] }),
      OpenAI.BadRequestError,
    );
    assert.equal(err.status, 400);
    assert.equal(err.param, 'n');
    assert.match(err.message, /\bn\b/);
  });

  test('image parts reach the model as image content, in history too; audio is a 400 naming the part', async () => {
    svc.fake.enqueue({ text: 'A red dot.' });
    const url = `data:image/png;base64,${PNG}`;
    await openai.chat.completions.create({
      model: 'agent',
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } }] },
        { role: 'assistant', content: 'A cat.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'And this?' },
            { type: 'image_url', image_url: { url } },
          ],
        },
      ],
    });
    const [earlier, , last] = withoutSystem(lastBody(svc.fake));
    assert.deepEqual(earlier?.content, [{ type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } }]);
    assert.deepEqual(last?.content, [
      { type: 'text', text: 'And this?' },
      { type: 'image_url', image_url: { url } },
    ]);

    const err = await rejectsWith(
      openai.chat.completions.create({
        model: 'agent',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Listen' },
              { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } },
            ],
          },
        ],
      }),
      OpenAI.BadRequestError,
    );
    assert.equal(err.param, 'messages[0].content[1]');
    assert.match(err.message, /audio input is not supported/);

    const unknown = await rejectsWith(
      openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: [{ type: 'video_url', url: 'x' }] }] } as never),
      OpenAI.BadRequestError,
    );
    assert.equal(unknown.param, 'messages[0].content');
    assert.match(unknown.message, /0\.type: .*'image_url'/);
  });

  test('streaming a client tool call: delta.tool_calls with index, id, name and the arguments, then finish_reason tool_calls', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_st', name: 'get_weather', arguments: { city: 'Bergen' } }] });
    const stream = await openai.chat.completions.create({ model: 'agent', stream: true, messages: [{ role: 'user', content: 'Bergen?' }], tools: [WEATHER] });
    const deltas: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    const finishes: string[] = [];
    for await (const chunk of stream) {
      deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
      const finish = chunk.choices[0]?.finish_reason;
      if (finish) finishes.push(finish);
      assert.equal((chunk as unknown as { agent_event?: unknown }).agent_event, undefined, 'a client call is no agent event');
    }
    assert.ok(deltas.length >= 2, 'the arguments arrive in pieces');
    assert.deepEqual(deltas[0] && { index: deltas[0].index, id: deltas[0].id, type: deltas[0].type, name: deltas[0].function?.name }, {
      index: 0,
      id: 'call_st',
      type: 'function',
      name: 'get_weather',
    });
    assert.ok(deltas.every((d) => d.index === 0));
    assert.deepEqual(JSON.parse(deltas.map((d) => d.function?.arguments ?? '').join('')), { city: 'Bergen' });
    assert.deepEqual(finishes, ['tool_calls']);

    // The SDK's own stream helper assembles the same call.
    svc.fake.enqueue({ toolCalls: [{ id: 'call_st2', name: 'get_weather', arguments: { city: 'Oslo' } }] });
    const helper = openai.chat.completions.stream({ model: 'agent', messages: [{ role: 'user', content: 'Oslo?' }], tools: [WEATHER] });
    const final = await helper.finalChatCompletion();
    assert.equal(final.choices[0]?.finish_reason, 'tool_calls');
    const call = final.choices[0]?.message.tool_calls?.[0];
    assert.ok(call?.type === 'function');
    assert.deepEqual([call.function.name, call.function.arguments], ['get_weather', '{"city":"Oslo"}']);
  });

  test('models.retrieve: the agent, and an unknown model is a 404 model_not_found (for completions too)', async () => {
    const model = await openai.models.retrieve('agent');
    assert.deepEqual({ id: model.id, object: model.object, owned_by: model.owned_by }, { id: 'agent', object: 'model', owned_by: 'agent-api' });
    const missing = await rejectsWith(openai.models.retrieve('gpt-nope'), OpenAI.NotFoundError);
    assert.equal(missing.code, 'model_not_found');
    assert.match(missing.message, /gpt-nope/);
    const chat = await rejectsWith(openai.chat.completions.create({ model: 'gpt-nope', messages: [{ role: 'user', content: 'hi' }] }), OpenAI.NotFoundError);
    assert.equal(chat.code, 'model_not_found');
  });
});

describe('Chat Completions: an agent that takes no images', () => {
  test('an image is a 400 naming the part and saying images are not supported by this model', async () => {
    const fake = await startFakeLlm();
    const svc = await startService({ fake, agent: createAgent({ model: createChatModel({ baseURL: fake.url, model: 'fake-model' }), accepts: [] }) });
    try {
      const openai = new OpenAI({ apiKey: KEY_A, baseURL: `${svc.url}/v1`, maxRetries: 0 });
      const image = { type: 'image_url' as const, image_url: { url: `data:image/png;base64,${PNG}` } };
      const err = await rejectsWith(
        openai.chat.completions.create({ model: 'agent', messages: [{ role: 'user', content: [{ type: 'text', text: 'See' }, image] }] }),
        OpenAI.BadRequestError,
      );
      assert.equal(err.param, 'messages[0].content[1]');
      assert.match(err.message, /images are not supported by this model/);
      // An image earlier in the conversation, too.
      const earlier = await rejectsWith(
        openai.chat.completions.create({
          model: 'agent',
          messages: [
            { role: 'user', content: [image] },
            { role: 'assistant', content: 'ok' },
            { role: 'user', content: 'and?' },
          ],
        }),
        OpenAI.BadRequestError,
      );
      assert.equal(earlier.param, 'messages[0].content[0]');
      assert.match(earlier.message, /images are not supported by this model/);
      assert.equal(fake.requests.length, 0, 'refused before the model is called');
    } finally {
      await svc.close();
      await fake.close();
    }
  });
});

describe('Chat Completions through LangChain (ChatOpenAI)', () => {
  let svc: TestService;
  let model: ChatOpenAI;
  const weather = {
    type: 'function' as const,
    function: { name: 'get_weather', description: 'The weather in a city', parameters: WEATHER.function.parameters },
  };
  before(async () => {
    svc = await startService();
    model = new ChatOpenAI({ model: 'agent', apiKey: KEY_A, configuration: { baseURL: `${svc.url}/v1` }, maxRetries: 0 });
  });
  after(() => svc.close());

  test('bindTools(...).invoke returns the tool call', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_lc', name: 'get_weather', arguments: { city: 'Oslo' } }] });
    const ai = await model.bindTools([weather]).invoke('Weather in Oslo?');
    assert.deepEqual(
      ai.tool_calls?.map((c) => ({ id: c.id, name: c.name, args: c.args })),
      [{ id: 'call_lc', name: 'get_weather', args: { city: 'Oslo' } }],
    );
    assert.equal(ai.response_metadata['finish_reason'], 'tool_calls');
  });

  test('withStructuredOutput(zod) parses the JSON the model returns', async () => {
    svc.fake.enqueue({ text: '{"city":"Oslo","celsius":21}' });
    const structured = model.withStructuredOutput(z.object({ city: z.string(), celsius: z.number() }), { name: 'weather' });
    const out = await structured.invoke('Weather in Oslo as JSON');
    assert.deepEqual(out, { city: 'Oslo', celsius: 21 });
    const format = lastBody(svc.fake)['response_format'] as { type: string; json_schema: { name: string; schema: { properties: object } } };
    assert.equal(format.type, 'json_schema');
    assert.equal(format.json_schema.name, 'weather');
    assert.deepEqual(Object.keys(format.json_schema.schema.properties), ['city', 'celsius']);
  });

  test('a LangGraph-style loop: tool call → ToolMessage → answer', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_loop', name: 'get_weather', arguments: { city: 'Bergen' } }] }, { text: 'Rainy in Bergen.' });
    const withTools = model.bindTools([weather]);
    const messages: BaseMessage[] = [new HumanMessage('Weather in Bergen?')];
    for (let step = 0; step < 3; step++) {
      const ai = await withTools.invoke(messages);
      messages.push(ai);
      if (!ai.tool_calls?.length) break;
      for (const call of ai.tool_calls) messages.push(new ToolMessage({ tool_call_id: call.id!, content: `Rain in ${String(call.args['city'])}` }));
    }
    const last = messages.at(-1);
    assert.ok(last instanceof AIMessage);
    assert.equal(last.content, 'Rainy in Bergen.');
    assert.equal(messages.length, 4);
    assert.deepEqual(
      withoutSystem(lastBody(svc.fake)).map((m) => [m.role, m.tool_call_id ?? null, typeof m.content === 'string' ? m.content : null]),
      [
        ['user', null, 'Weather in Bergen?'],
        ['assistant', null, null],
        ['tool', 'call_loop', 'Rain in Bergen'],
      ],
    );
  });
});
