/**
 * POST /v1/ui/chat: the AI SDK v6 UI message stream, read back with the SDK's own client pieces
 * (DefaultChatTransport, readUIMessageStream, parseJsonEventStream + uiMessageChunkSchema) against
 * the real service and the fake model; and resuming (`reconnectToStream`, GET /v1/ui/chat/{id}/stream)
 * and stopping (POST /v1/ui/chat/{id}/stop) the reply in progress.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DefaultChatTransport, parseJsonEventStream, readUIMessageStream, uiMessageChunkSchema, type UIMessage, type UIMessageChunk } from 'ai';
import { KEY_A, KEY_B, readChunks, startService, type TestService, waitFor } from './support/service.js';

let counter = 0;
const userMessage = (text: string): UIMessage => ({ id: `u${++counter}`, role: 'user', parts: [{ type: 'text', text }] });

/** The body DefaultChatTransport sends. */
const body = (id: string, text: string, history: UIMessage[] = []) => ({
  id,
  messages: [...history, userMessage(text)],
  trigger: 'submit-message',
});

/** Splits a UI message stream body into its `data:` payloads, strictly (no ids, no other fields). */
function dataLines(text: string): string[] {
  const out: string[] = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim() || block.startsWith(':')) continue;
    assert.ok(block.startsWith('data: ') && !block.includes('\n'), `unexpected SSE block ${JSON.stringify(block)}`);
    out.push(block.slice(6));
  }
  return out;
}

/** Parses an SSE body with the SDK's own parser and schema (what DefaultChatTransport does). */
function chunkStream(res: Response): ReadableStream<UIMessageChunk> {
  return parseJsonEventStream({ stream: res.body!, schema: uiMessageChunkSchema }).pipeThrough(
    new TransformStream({
      transform(result, controller) {
        if (!result.success) throw result.error;
        controller.enqueue(result.value);
      },
    }),
  );
}

/** The final UIMessage readUIMessageStream builds, and the errors it reported. */
async function finalMessage(stream: ReadableStream<UIMessageChunk>): Promise<{ message: UIMessage | undefined; errors: string[] }> {
  const errors: string[] = [];
  let message: UIMessage | undefined;
  for await (const m of readUIMessageStream({ stream, onError: (e) => errors.push((e as Error).message) })) message = m;
  return { message, errors };
}

/** Reads chunks until one of `type` (returned with those before it); fails if the stream ends first. */
async function readUntil(reader: ReadableStreamDefaultReader<UIMessageChunk>, type: UIMessageChunk['type']): Promise<UIMessageChunk[]> {
  const seen: UIMessageChunk[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    assert.ok(!done, `the stream ended before a ${type} chunk`);
    seen.push(value);
    if (value.type === type) return seen;
  }
}

/** Every chunk left in the stream. */
async function readRest(reader: ReadableStreamDefaultReader<UIMessageChunk>): Promise<UIMessageChunk[]> {
  const out: UIMessageChunk[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

const startId = (chunks: UIMessageChunk[]) => chunks.find((c): c is Extract<UIMessageChunk, { type: 'start' }> => c.type === 'start')?.messageId;

const textOf = (message: UIMessage | undefined) =>
  (message?.parts ?? [])
    .filter((p) => p.type === 'text')
    .map((p) => (p as { text: string }).text)
    .join('');

describe('POST /v1/ui/chat (AI SDK UI message stream)', () => {
  let svc: TestService;
  const transport = (key = KEY_A) => new DefaultChatTransport<UIMessage>({ api: `${svc.url}/v1/ui/chat`, headers: { 'X-API-Key': key } });
  const post = (json: unknown, key: string | null = KEY_A, signal?: AbortSignal) =>
    svc.request('/v1/ui/chat', { method: 'POST', json, key, ...(signal ? { signal } : {}) });
  const send = (chatId: string, text: string, abortSignal?: AbortSignal) =>
    transport().sendMessages({ chatId, messages: [userMessage(text)], trigger: 'submit-message', messageId: undefined, abortSignal });
  const stop = (chatId: string, key: string | null = KEY_A) => svc.request(`/v1/ui/chat/${chatId}/stop`, { method: 'POST', key });
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

  before(async () => {
    svc = await startService();
  });
  after(() => svc.close());

  test('headers and the raw chunk sequence of a text reply', async () => {
    svc.fake.enqueue({ text: 'Hello there!', chunks: ['Hel', 'lo ', 'there!'] });
    const res = await post(body('ui-raw', 'hi'));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    assert.equal(res.headers.get('x-accel-buffering'), 'no');
    const lines = dataLines(await readChunks(res));
    assert.equal(lines.at(-1), '[DONE]');
    const chunks = lines.slice(0, -1).map((l) => JSON.parse(l) as UIMessageChunk);
    assert.deepEqual(
      chunks.map((c) => c.type),
      ['start', 'start-step', 'text-start', 'text-delta', 'text-delta', 'text-delta', 'text-end', 'finish-step', 'finish'],
    );
    const start = chunks[0] as Extract<UIMessageChunk, { type: 'start' }>;
    assert.equal(typeof start.messageId, 'string');
    assert.ok(start.messageId!.length > 0);
    const textId = (chunks[2] as Extract<UIMessageChunk, { type: 'text-start' }>).id;
    const deltas = chunks.filter((c): c is Extract<UIMessageChunk, { type: 'text-delta' }> => c.type === 'text-delta');
    assert.ok(deltas.every((d) => d.id === textId));
    assert.equal(deltas.map((d) => d.delta).join(''), 'Hello there!');
    assert.equal((chunks[6] as { id: string }).id, textId);
  });

  test('a tool step’s raw chunks: exact step boundaries, argument deltas as the model writes them, the output inside its step', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_raw', name: 'calculator', arguments: { expression: '6*7' } }] }, { text: 'It is 42.', chunks: ['It is 42.'] });
    const lines = dataLines(await readChunks(await post(body('ui-raw-tool', 'six times seven?'))));
    const chunks = lines.slice(0, -1).map((l) => JSON.parse(l) as UIMessageChunk);
    assert.deepEqual(
      chunks.map((c) => c.type),
      [
        'start',
        'start-step',
        'tool-input-start',
        'tool-input-delta',
        'tool-input-delta',
        'tool-input-available',
        'tool-output-available',
        'finish-step',
        'start-step',
        'text-start',
        'text-delta',
        'text-end',
        'finish-step',
        'finish',
      ],
    );
    const deltas = chunks.filter((c): c is Extract<UIMessageChunk, { type: 'tool-input-delta' }> => c.type === 'tool-input-delta');
    assert.deepEqual(JSON.parse(deltas.map((d) => d.inputTextDelta).join('')), { expression: '6*7' });
  });

  test('DefaultChatTransport + readUIMessageStream: the final message holds the reply', async () => {
    svc.fake.enqueue({ text: 'Streaming through the SDK.' });
    const stream = await transport().sendMessages({
      chatId: 'ui-transport',
      messages: [userMessage('hello sdk')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    const { message, errors } = await finalMessage(stream);
    assert.deepEqual(errors, []);
    assert.equal(message?.role, 'assistant');
    assert.equal(textOf(message), 'Streaming through the SDK.');
    // The turn is stored in the session named by the chat id.
    const session = await svc.request('/sessions/ui-transport');
    assert.equal(session.status, 200);
    const { messages } = (await session.json()) as { messages: Array<{ role: string; content?: string }> };
    assert.deepEqual(
      messages.map((m) => [m.role, m.content]),
      [
        ['user', 'hello sdk'],
        ['assistant', 'Streaming through the SDK.'],
      ],
    );
  });

  test('a tool round trip becomes a tool-calculator part with input and output', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_ui1', name: 'calculator', arguments: { expression: '2 + 3 * 4' } }] }, { text: 'It is 14.' });
    const stream = await transport().sendMessages({
      chatId: 'ui-tools',
      messages: [userMessage('what is 2 + 3 * 4?')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: undefined,
    });
    const { message, errors } = await finalMessage(stream);
    assert.deepEqual(errors, []);
    assert.ok(message, 'a message was read');
    assert.deepEqual(
      message.parts.map((p) => p.type),
      ['step-start', 'tool-calculator', 'step-start', 'text'],
    );
    const part = message.parts[1] as { type: string; toolCallId: string; state: string; input: unknown; output: unknown };
    assert.equal(part.toolCallId, 'call_ui1');
    assert.equal(part.state, 'output-available');
    assert.deepEqual(part.input, { expression: '2 + 3 * 4' });
    assert.deepEqual(part.output, { expression: '2 + 3 * 4', result: 14 });
    assert.equal(textOf(message), 'It is 14.');
  });

  test('the chat id is the session: a second request carries the first turn; another key with that id has its own', async () => {
    const id = 'ui-continuity';
    svc.fake.enqueue({ text: 'First answer.' });
    const first = await finalMessage(
      await transport().sendMessages({
        chatId: id,
        messages: [userMessage('first question')],
        trigger: 'submit-message',
        messageId: undefined,
        abortSignal: undefined,
      }),
    );
    assert.equal(textOf(first.message), 'First answer.');

    svc.fake.enqueue({ text: 'Second answer.' });
    const n = svc.fake.requests.length;
    // The client's own copy of the history is not what the model sees; the stored session is.
    const history: UIMessage[] = [userMessage('first question'), { ...first.message!, id: 'a1' }];
    const second = await finalMessage(
      await transport().sendMessages({
        chatId: id,
        messages: [...history, userMessage('second question')],
        trigger: 'submit-message',
        messageId: undefined,
        abortSignal: undefined,
      }),
    );
    assert.equal(textOf(second.message), 'Second answer.');
    const sent = svc.fake.requests[n]!.body.messages.filter((m) => m.role !== 'system');
    assert.deepEqual(
      sent.map((m) => [m.role, m.content]),
      [
        ['user', 'first question'],
        ['assistant', 'First answer.'],
        ['user', 'second question'],
      ],
    );

    // Another key's chat with the same id is a session of its own.
    svc.fake.enqueue({ text: 'Yours alone.' });
    const m = svc.fake.requests.length;
    const other = await post(body(id, 'let me in'), KEY_B);
    assert.equal(other.status, 200, await other.clone().text());
    await other.text();
    assert.deepEqual(
      svc.fake.requests[m]!.body.messages.filter((msg) => msg.role !== 'system').map((msg) => [msg.role, msg.content]),
      [['user', 'let me in']],
    );
    // Through the transport, a non-2xx answer is thrown with the JSON body as the message.
    await assert.rejects(
      transport(KEY_A).sendMessages({
        chatId: 'not a valid id',
        messages: [userMessage('x')],
        trigger: 'submit-message',
        messageId: undefined,
        abortSignal: undefined,
      }),
      /validation_error/,
    );
  });

  test('errors before the stream are plain JSON: 401, 400 (bad id, no user text), 409 busy', async () => {
    const noKey = await post(body('ui-errors', 'hi'), null);
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as { error: { code: string } }).error.code, 'unauthorized');

    for (const bad of [
      body('bad id!', 'hi'),
      { id: 'ui-errors', messages: [] },
      { id: 'ui-errors', messages: [{ role: 'user', parts: [{ type: 'text', text: '   ' }] }] },
      { id: 'ui-errors', messages: [{ role: 'user', parts: [{ type: 'text', text: 'x'.repeat(5001) }] }] },
      { messages: [userMessage('no id')] },
    ]) {
      const res = await post(bad);
      assert.equal(res.status, 400, JSON.stringify(bad).slice(0, 80));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'validation_error');
    }

    svc.fake.enqueue({ text: 'slow slow slow slow', delayMs: 100 });
    const running = await post(body('ui-busy', 'take your time'));
    assert.equal(running.status, 200);
    const busy = await post(body('ui-busy', 'me too'));
    assert.equal(busy.status, 409);
    assert.equal(((await busy.json()) as { error: { code: string } }).error.code, 'session_busy');
    await readChunks(running);
  });

  test('several text parts joined; parts that say nothing to the model (steps, reasoning, data) ignored', async () => {
    svc.fake.enqueue({ text: 'ok' });
    const n = svc.fake.requests.length;
    const res = await post({
      id: 'ui-parts',
      messages: [
        {
          id: 'm1',
          role: 'user',
          parts: [
            { type: 'text', text: 'one ' },
            { type: 'step-start' },
            { type: 'reasoning', text: 'not said' },
            { type: 'data-note', data: { x: 1 } },
            { type: 'text', text: 'two' },
          ],
        },
      ],
      trigger: 'submit-message',
      extra: 'ignored',
    });
    assert.equal(res.status, 200);
    await readChunks(res);
    const sent = svc.fake.requests[n]!.body.messages;
    assert.deepEqual(sent.at(-1), { role: 'user', content: 'one two' });
  });

  test('an upstream failure mid-stream: error chunk, then finish and [DONE]', async () => {
    svc.fake.enqueue({ resetAfter: 2, text: 'abcdefghijklmnop' });
    const res = await post(body('ui-fail', 'fail midway'));
    assert.equal(res.status, 200);
    const lines = dataLines(await readChunks(res));
    assert.equal(lines.at(-1), '[DONE]');
    const chunks = lines.slice(0, -1).map((l) => JSON.parse(l) as UIMessageChunk);
    assert.deepEqual(chunks.map((c) => c.type).slice(-5), ['text-delta', 'text-end', 'finish-step', 'error', 'finish']);
    const error = chunks.at(-2) as Extract<UIMessageChunk, { type: 'error' }>;
    assert.ok(error.errorText.length > 0);
    const finish = chunks.at(-1) as Extract<UIMessageChunk, { type: 'finish' }>;
    assert.equal(finish.finishReason, 'error');
    assert.deepEqual(finish.messageMetadata, {
      run_id: startId(chunks),
      session_id: 'ui-fail',
      usage: { input_tokens: 0, output_tokens: 0, total_tokens: 0 },
      finish_reason: 'error',
    });

    // The SDK reader reports it and keeps the partial text.
    svc.fake.enqueue({ resetAfter: 2, text: 'abcdefghijklmnop' });
    const again = await finalMessage(chunkStream(await post(body('ui-fail-2', 'fail midway'))));
    assert.equal(again.errors.length, 1);
    assert.equal(textOf(again.message), 'abcdefgh');
  });

  test('reconnectToStream with no reply in progress: GET /v1/ui/chat/{id}/stream answers 204 and the SDK gives null', async () => {
    svc.fake.enqueue({ text: 'Done already.' });
    assert.equal(textOf((await finalMessage(await send('ui-idle', 'hi'))).message), 'Done already.');
    assert.equal(await transport().reconnectToStream({ chatId: 'ui-idle' }), null);
    const res = await svc.request('/v1/ui/chat/ui-idle/stream');
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });

  test('a page that reloads mid-reply: hanging up leaves the run going, and reconnectToStream replays the whole message', async () => {
    const n = svc.fake.requests.length;
    svc.fake.enqueue(
      { toolCalls: [{ id: 'call_resume', name: 'calculator', arguments: { expression: '2 + 3 * 4' } }], delayMs: 20 },
      { text: 'It is 14, computed with the calculator.', chunks: ['It ', 'is ', '14, ', 'computed ', 'with ', 'the ', 'calculator.'], delayMs: 120 },
    );
    const ac = new AbortController();
    const reader = (await send('ui-resume', 'what is 2 + 3 * 4?', ac.signal)).getReader();
    const before = await readUntil(reader, 'text-delta');
    assert.ok(before.some((c) => c.type === 'tool-output-available'));
    const messageId = startId(before);
    assert.match(messageId ?? '', /^run_/, 'the message id is the run id');
    ac.abort(); // the page goes away
    await assert.rejects(readRest(reader));

    // What DefaultChatTransport does for useChat({ resume: true }): GET {api}/{chatId}/stream.
    const resumed = await transport().reconnectToStream({ chatId: 'ui-resume' });
    assert.ok(resumed, 'a reply is in progress');
    const { message, errors } = await finalMessage(resumed);
    assert.deepEqual(errors, []);
    assert.equal(message?.id, messageId, 'the same message as the POST was building');
    assert.deepEqual(
      message?.parts.map((p) => p.type),
      ['step-start', 'tool-calculator', 'step-start', 'text'],
    );
    const part = message.parts[1] as { toolCallId: string; state: string; input: unknown; output: unknown };
    assert.equal(part.toolCallId, 'call_resume');
    assert.equal(part.state, 'output-available');
    assert.deepEqual(part.input, { expression: '2 + 3 * 4' });
    assert.deepEqual(part.output, { expression: '2 + 3 * 4', result: 14 });
    assert.equal(textOf(message), 'It is 14, computed with the calculator.');

    // The model was never hung up on, and the whole reply is stored.
    assert.equal(svc.fake.requests[n + 1]!.aborted, false);
    assert.equal(svc.fake.requests[n + 1]!.finished, true);
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    const session = (await (await svc.request('/sessions/ui-resume')).json()) as { messages: Array<{ role: string; content?: string; interrupted?: boolean }> };
    const last = session.messages.at(-1);
    assert.equal(last?.content, 'It is 14, computed with the calculator.');
    assert.notEqual(last?.interrupted, true);
    assert.equal(await transport().reconnectToStream({ chatId: 'ui-resume' }), null);

    svc.fake.enqueue({ text: 'back' });
    assert.equal(textOf((await finalMessage(await send('ui-resume', 'again'))).message), 'back');
  });

  test('the resumed stream is the UI protocol: same headers, replayed from start, [DONE] at the end', async () => {
    svc.fake.enqueue({ text: 'one two three four', chunks: ['one ', 'two ', 'three ', 'four'], delayMs: 120 });
    const running = await post(body('ui-resume-raw', 'count'));
    assert.equal(running.status, 200);
    // The POST answered 200, so its run is recorded and answering: resume it at once.
    const res = await svc.request('/v1/ui/chat/ui-resume-raw/stream');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
    const [resumedText, postedText] = await Promise.all([readChunks(res), readChunks(running)]);
    const lines = dataLines(resumedText);
    assert.equal(lines.at(-1), '[DONE]');
    // Both streams are the same run, chunk for chunk.
    assert.deepEqual(lines, dataLines(postedText));
    const chunks = lines.slice(0, -1).map((l) => JSON.parse(l) as UIMessageChunk);
    assert.equal(chunks[0]?.type, 'start');
    assert.equal(
      chunks
        .filter((c): c is Extract<UIMessageChunk, { type: 'text-delta' }> => c.type === 'text-delta')
        .map((c) => c.delta)
        .join(''),
      'one two three four',
    );
  });

  test('POST /v1/ui/chat/{id}/stop cancels the run: the model is hung up on and every stream of it ends', async () => {
    const n = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'z'.repeat(80), delayMs: 150 });
    const reader = (await send('ui-stop', 'talk')).getReader();
    const before = await readUntil(reader, 'text-delta');
    const resumed = await transport().reconnectToStream({ chatId: 'ui-stop' });
    assert.ok(resumed, 'a reply is in progress');

    const res = await stop('ui-stop');
    assert.equal(res.status, 202);
    const { run_id } = (await res.json()) as { run_id: string };
    assert.equal(run_id, startId(before), 'the run whose message was streaming');
    await svc.fake.waitForAbort(n);
    assert.equal(svc.fake.requests[n]!.finished, false);

    // The POST's stream: an error chunk (cancelled), then finish.
    const after = await readRest(reader);
    assert.deepEqual(
      after.slice(-2).map((c) => c.type),
      ['error', 'finish'],
    );
    assert.equal((after.at(-1) as Extract<UIMessageChunk, { type: 'finish' }>).finishReason, 'error');
    // The resumed stream ends the same way, keeping the partial text.
    const { message, errors } = await finalMessage(resumed);
    assert.equal(errors.length, 1);
    assert.match(textOf(message), /^z+$/);
    assert.ok(textOf(message).length < 80);

    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');
    const run = (await (await svc.request(`/runs/${run_id}`)).json()) as { status: string };
    assert.equal(run.status, 'cancelled');
    const again = await stop('ui-stop');
    assert.equal(again.status, 204);
    assert.equal(await again.text(), '');
    assert.equal(await transport().reconnectToStream({ chatId: 'ui-stop' }), null);

    svc.fake.enqueue({ text: 'after the stop' });
    assert.equal(textOf((await finalMessage(await send('ui-stop', 'again'))).message), 'after the stop');
  });

  test("another key's chat or an unknown one: stream 204 (no reply in progress, nothing told), stop 404 (and touches nothing); bad ids 400; no key 401", async () => {
    const n = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'mine mine mine', chunks: ['mine ', 'mine ', 'mine'], delayMs: 150 });
    const running = await post(body('ui-owned', 'hello'));
    assert.equal(running.status, 200);

    assert.equal(await transport(KEY_B).reconnectToStream({ chatId: 'ui-owned' }), null);
    assert.equal(await transport().reconnectToStream({ chatId: 'ui-never-used' }), null, 'useChat with a fresh id resumes cleanly');
    for (const chat of ['ui-owned', 'ui-never-used']) {
      const key = chat === 'ui-owned' ? KEY_B : KEY_A;
      const resumed = await svc.request(`/v1/ui/chat/${chat}/stream`, { key });
      assert.equal(resumed.status, 204, chat);
      assert.equal(await resumed.text(), '');
      const res = await stop(chat, key);
      assert.equal(res.status, 404, chat);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(await errorCode(res), 'session_not_found');
    }
    // KEY_B's stop did not touch KEY_A's run.
    assert.equal(dataLines(await readChunks(running)).at(-1), '[DONE]');
    assert.equal(svc.fake.requests[n]!.aborted, false);
    assert.equal(svc.fake.requests[n]!.finished, true);

    for (const res of [await svc.request('/v1/ui/chat/bad%20id!/stream'), await stop('bad%20id!')]) {
      assert.equal(res.status, 400);
      assert.equal(await errorCode(res), 'validation_error');
    }
    for (const res of [await svc.request('/v1/ui/chat/ui-owned/stream', { key: null }), await stop('ui-owned', null)]) {
      assert.equal(res.status, 401);
      assert.equal(await errorCode(res), 'unauthorized');
    }
  });

  test('the route is in the OpenAPI document', async () => {
    const res = await svc.request('/openapi.json', { key: null });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    assert.ok(doc.paths['/v1/ui/chat']);
    const paths = doc.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
    assert.deepEqual(
      Object.keys(paths['/v1/ui/chat/{id}/stream']?.['get']?.responses ?? {}).filter((s) => s < '300'),
      ['204'],
    );
    assert.deepEqual(
      Object.keys(paths['/v1/ui/chat/{id}/stop']?.['post']?.responses ?? {}).filter((s) => s < '300'),
      ['202', '204'],
    );
  });
});
