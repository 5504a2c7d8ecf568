/**
 * POST /v1/ui/chat beyond plain text, through the AI SDK's own DefaultChatTransport and
 * readUIMessageStream: `regenerate()` (trigger `regenerate-message`) replacing the last answer,
 * the message metadata (run id, usage) on the assembled message, `file` parts reaching the model
 * or refused by an agent that takes none, and the `agent` field.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import { createAgent } from '../src/agent/agent.js';
import { createChatModel } from '../src/agent/chat-model.js';
import type { UIChatMetadata } from '../src/http/routes/ui-chunk-mapper.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';
import { readChunks, startService, type TestService, waitFor } from './support/service.js';

let counter = 0;
const userMessage = (text: string, extra: UIMessage['parts'] = []): UIMessage => ({
  id: `u${++counter}`,
  role: 'user',
  parts: [{ type: 'text', text }, ...extra],
});

async function finalMessage(stream: ReadableStream<UIMessageChunk>): Promise<{ message: UIMessage | undefined; errors: string[] }> {
  const errors: string[] = [];
  let message: UIMessage | undefined;
  for await (const m of readUIMessageStream({ stream, onError: (e) => errors.push((e as Error).message) })) message = m;
  return { message, errors };
}

const textOf = (message: UIMessage | undefined) =>
  (message?.parts ?? [])
    .filter((p) => p.type === 'text')
    .map((p) => (p as { text: string }).text)
    .join('');

interface StoredMessage {
  role: string;
  content?: string;
  superseded?: boolean;
  tool_call_id?: string;
  attachments?: unknown[];
}

/** What the model was sent, system prompt left out. */
const sentTo = (fake: FakeLlm, i: number) => fake.requests[i]!.body.messages.filter((m) => m.role !== 'system');

describe('POST /v1/ui/chat: regenerate, metadata, files, agent', () => {
  let svc: TestService;
  const transport = () => new DefaultChatTransport<UIMessage>({ api: `${svc.url}/v1/ui/chat`, headers: { 'X-API-Key': 'test-key-alpha' } });
  const send = (chatId: string, messages: UIMessage[], trigger: 'submit-message' | 'regenerate-message' = 'submit-message', messageId?: string) =>
    transport().sendMessages({ chatId, messages, trigger, messageId, abortSignal: undefined });
  const post = (json: unknown) => svc.request('/v1/ui/chat', { method: 'POST', json });
  const stored = async (id: string) => ((await (await svc.request(`/sessions/${id}`)).json()) as { messages: StoredMessage[] }).messages;
  const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string; details?: Array<{ field: string }> } }).error;

  before(async () => {
    svc = await startService();
  });
  after(() => svc.close());

  test('regenerate replaces the last answer: the user message is stored once, the old answer (tool steps too) superseded and not sent again', async () => {
    const id = 'ui-regen';
    svc.fake.enqueue({ text: 'Earlier answer.' });
    await finalMessage(await send(id, [userMessage('earlier question')]));
    svc.fake.enqueue({ toolCalls: [{ id: 'call_old', name: 'calculator', arguments: { expression: '2+2' } }] }, { text: 'First try: 4.' });
    const question = userMessage('what is 2+2?');
    const first = await finalMessage(await send(id, [question]));
    assert.equal(textOf(first.message), 'First try: 4.');

    // What useChat().regenerate() sends: the messages up to the last user message, and the answer it replaces.
    svc.fake.enqueue({ text: 'Second try: four.' });
    const n = svc.fake.requests.length;
    const second = await finalMessage(await send(id, [question], 'regenerate-message', first.message!.id));
    assert.deepEqual(second.errors, []);
    assert.equal(textOf(second.message), 'Second try: four.');
    assert.notEqual(second.message?.id, first.message?.id, 'a new message (its run id)');

    assert.deepEqual(
      sentTo(svc.fake, n).map((m) => [m.role, m.content]),
      [
        ['user', 'earlier question'],
        ['assistant', 'Earlier answer.'],
        ['user', 'what is 2+2?'],
      ],
    );
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    assert.deepEqual(
      (await stored(id)).map((m) => [m.role, m.content ?? m.tool_call_id, m.superseded ?? false]),
      [
        ['user', 'earlier question', false],
        ['assistant', 'Earlier answer.', false],
        ['user', 'what is 2+2?', false],
        ['assistant', '', true],
        ['tool', 'call_old', true],
        ['assistant', 'First try: 4.', true],
        ['assistant', 'Second try: four.', false],
      ],
    );

    // The next turn sees the regenerated answer only.
    svc.fake.enqueue({ text: 'Next.' });
    const m = svc.fake.requests.length;
    await finalMessage(await send(id, [userMessage('and then?')]));
    assert.deepEqual(
      sentTo(svc.fake, m)
        .slice(2)
        .map((msg) => [msg.role, msg.content]),
      [
        ['user', 'what is 2+2?'],
        ['assistant', 'Second try: four.'],
        ['user', 'and then?'],
      ],
    );
  });

  test('regenerate in a chat with nothing to answer: 400 naming trigger, and no session is left behind', async () => {
    const n = svc.fake.requests.length;
    const res = await post({ id: 'ui-regen-empty', messages: [userMessage('hi')], trigger: 'regenerate-message', messageId: 'x' });
    assert.equal(res.status, 400);
    const error = await errorOf(res);
    assert.equal(error.code, 'validation_error');
    assert.match(error.message, /trigger: .*no user message/);
    assert.deepEqual(
      error.details?.map((d) => d.field),
      ['trigger'],
    );
    assert.equal(svc.fake.requests.length, n, 'the model was not called');
    assert.equal((await svc.request('/sessions/ui-regen-empty')).status, 404);

    const bad = await post({ id: 'ui-regen-empty', messages: [userMessage('hi')], trigger: 'resubmit' });
    assert.equal(bad.status, 400);
    assert.match((await errorOf(bad)).message, /trigger/);
  });

  test('messageMetadata: the assembled message carries the run id, session and usage; finish has the finish reason', async () => {
    svc.fake.enqueue({ text: 'Metered.', usage: { prompt_tokens: 12, completion_tokens: 5 } });
    const { message, errors } = await finalMessage(await send('ui-meta', [userMessage('count me')]));
    assert.deepEqual(errors, []);
    assert.match(message?.id ?? '', /^run_/);
    assert.ok(message);
    assert.deepEqual(message.metadata, {
      run_id: message.id,
      session_id: 'ui-meta',
      usage: { input_tokens: 12, output_tokens: 5, total_tokens: 17 },
      finish_reason: 'stop',
    } satisfies UIChatMetadata);
    const run = (await (await svc.request(`/runs/${message.id}`)).json()) as { id: string; usage: unknown };
    assert.equal(run.id, message.id);
    assert.deepEqual(run.usage, { input_tokens: 12, output_tokens: 5, total_tokens: 17 });

    // Raw: `start` carries the run, `finish` the rest and the SDK's finish reason.
    svc.fake.enqueue({ text: 'cut', finishReason: 'length' });
    const raw = await readChunks(await post({ id: 'ui-meta', messages: [userMessage('again')], trigger: 'submit-message' }));
    const chunks = raw
      .split('\n\n')
      .filter((b) => b.startsWith('data: {'))
      .map((b) => JSON.parse(b.slice(6)) as UIMessageChunk);
    const start = chunks.find((c) => c.type === 'start');
    const finish = chunks.find((c) => c.type === 'finish');
    assert.deepEqual(start?.messageMetadata, { run_id: start?.messageId, session_id: 'ui-meta' });
    assert.equal(finish?.finishReason, 'length');
    assert.equal((finish?.messageMetadata as UIChatMetadata).finish_reason, 'length');
  });

  test('file parts reach the model as images (data: and https URLs), and the stored user message keeps them', async () => {
    svc.fake.enqueue({ text: 'Two pictures.' });
    const n = svc.fake.requests.length;
    const message = userMessage('what are these?', [
      { type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,iVBORw0KGgo=', filename: 'dot.png' },
      { type: 'file', mediaType: 'image/jpeg', url: 'https://example.com/cat.jpg' },
    ]);
    const { message: answer, errors } = await finalMessage(await send('ui-files', [message]));
    assert.deepEqual(errors, []);
    assert.equal(textOf(answer), 'Two pictures.');
    assert.deepEqual(sentTo(svc.fake, n).at(-1), {
      role: 'user',
      content: [
        { type: 'text', text: 'what are these?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
      ],
    });
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    const { seq, created_at, ...first } = (await stored('ui-files'))[0] as StoredMessage & { seq: number; created_at: string };
    assert.equal(seq, 0);
    assert.match(created_at, /^\d{4}-/);
    assert.deepEqual(first, {
      role: 'user',
      content: 'what are these?',
      attachments: [
        { kind: 'image', mediaType: 'image/png', data: 'iVBORw0KGgo=', filename: 'dot.png' },
        { kind: 'image', mediaType: 'image/jpeg', data: 'https://example.com/cat.jpg' },
      ],
    });

    // An image alone (no text), percent-encoded: the model gets the image only.
    svc.fake.enqueue({ text: 'A circle.' });
    const m = svc.fake.requests.length;
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"/>';
    await finalMessage(
      await send('ui-files-alone', [
        { id: 'only-file', role: 'user', parts: [{ type: 'file', mediaType: 'image/svg+xml', url: `data:image/svg+xml,${encodeURIComponent(svg)}` }] },
      ]),
    );
    assert.deepEqual(sentTo(svc.fake, m).at(-1)?.content, [
      { type: 'image_url', image_url: { url: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` } },
    ]);
  });

  test('a file part that is no data: or http(s) URL, or has no media type: 400 naming the part', async () => {
    const n = svc.fake.requests.length;
    for (const [part, field] of [
      [{ type: 'file', mediaType: 'image/png', url: 'blob:http://localhost/123' }, 'body.messages.0.parts.1.url'],
      [{ type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,not base64!' }, 'body.messages.0.parts.1.url'],
      [{ type: 'file', url: 'data:,x' }, 'body.messages.0.parts.1.mediaType'],
    ] as const) {
      const res = await post({ id: 'ui-files-bad', messages: [userMessage('look', [part as never])], trigger: 'submit-message' });
      assert.equal(res.status, 400, field);
      const error = await errorOf(res);
      assert.equal(error.code, 'validation_error');
      assert.deepEqual(
        error.details?.map((d) => d.field),
        [field],
      );
    }
    assert.equal(svc.fake.requests.length, n, 'the model was not called');
  });

  test('agent: an unknown one is 404 model_not_found, before anything is stored', async () => {
    const res = await post({ id: 'ui-agent', messages: [userMessage('hi')], agent: 'no-such-agent' });
    assert.equal(res.status, 404);
    assert.equal((await errorOf(res)).code, 'model_not_found');
    assert.equal((await svc.request('/sessions/ui-agent')).status, 404);
  });
});

describe('POST /v1/ui/chat: an agent named picky that takes no files', () => {
  let svc: TestService;
  let fake: FakeLlm;

  before(async () => {
    fake = await startFakeLlm();
    const agent = createAgent({ model: createChatModel({ baseURL: fake.url, model: 'fake-model' }), name: 'picky', maxRetries: 0, accepts: [] });
    svc = await startService({ fake, agent });
  });
  after(async () => {
    await svc.close();
    await fake.close();
  });

  test('an image or a file part is refused with a 400 naming the part; nothing is stored or sent', async () => {
    for (const [part, what] of [
      [{ type: 'file', mediaType: 'image/png', url: 'data:image/png;base64,iVBORw0KGgo=' }, 'images are not supported by this model'],
      [{ type: 'file', mediaType: 'application/pdf', url: 'https://example.com/a.pdf', filename: 'a.pdf' }, 'files are not supported by this model'],
    ] as const) {
      const res = await svc.request('/v1/ui/chat', {
        method: 'POST',
        json: { id: 'ui-no-files', messages: [userMessage('hi'), userMessage('look', [part])], trigger: 'submit-message' },
      });
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as { error: { code: string; message: string; details: Array<{ field: string }> } };
      assert.equal(error.code, 'validation_error');
      assert.ok(error.message.includes(what), error.message);
      assert.ok(error.message.includes('messages.1.parts.1'), error.message);
      assert.deepEqual(
        error.details.map((d) => d.field),
        ['messages.1.parts.1'],
      );
    }
    assert.equal(fake.requests.length, 0);
    assert.equal((await svc.request('/sessions/ui-no-files')).status, 404);
  });

  test('the agent field picks it by name; text alone it answers', async () => {
    fake.enqueue({ text: 'Picky here.', chunks: ['Picky here.'] });
    const res = await svc.request('/v1/ui/chat', { method: 'POST', json: { id: 'ui-picky', messages: [userMessage('hi')], agent: 'picky' } });
    assert.equal(res.status, 200);
    assert.match(await readChunks(res), /Picky here\./);
    assert.equal(fake.requests.length, 1);
  });
});
