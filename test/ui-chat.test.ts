/**
 * POST /v1/ui/chat: the AI SDK v6 UI message stream, read back with the SDK's own client pieces
 * (DefaultChatTransport, readUIMessageStream, parseJsonEventStream + uiMessageChunkSchema) against
 * the real service and the fake model.
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

  test('the chat id is the session: a second request carries the first turn; another key gets 404', async () => {
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

    const other = await post(body(id, 'let me in'), KEY_B);
    assert.equal(other.status, 404);
    assert.match(other.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await other.json()) as { error: { code: string } }).error.code, 'session_not_found');
    // Through the transport, a non-2xx answer is thrown with the JSON body as the message.
    await assert.rejects(
      transport(KEY_B).sendMessages({ chatId: id, messages: [userMessage('x')], trigger: 'submit-message', messageId: undefined, abortSignal: undefined }),
      /session_not_found/,
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

  test('several text parts joined; non-text parts ignored', async () => {
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
            { type: 'file', url: 'data:,', mediaType: 'text/plain' },
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
    assert.deepEqual(chunks.at(-1), { type: 'finish', finishReason: 'error' });

    // The SDK reader reports it and keeps the partial text.
    svc.fake.enqueue({ resetAfter: 2, text: 'abcdefghijklmnop' });
    const again = await finalMessage(chunkStream(await post(body('ui-fail-2', 'fail midway'))));
    assert.equal(again.errors.length, 1);
    assert.equal(textOf(again.message), 'abcdefgh');
  });

  test('aborting the request mid-stream aborts the model request', async () => {
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: 'z'.repeat(80), delayMs: 150 });
    const ac = new AbortController();
    const stream = await transport().sendMessages({
      chatId: 'ui-abort',
      messages: [userMessage('talk')],
      trigger: 'submit-message',
      messageId: undefined,
      abortSignal: ac.signal,
    });
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      assert.ok(!done, 'stream ended before any text');
      if (value.type === 'text-delta') break;
    }
    ac.abort();
    await assert.rejects(async () => {
      for (;;) if ((await reader.read()).done) break;
    });
    await svc.fake.waitForAbort(first);
    assert.equal(svc.fake.requests[first]!.finished, false);
    await waitFor(() => svc.server.activeRuns === 0, 'the run to end');

    svc.fake.enqueue({ text: 'back' });
    const next = await finalMessage(
      await transport().sendMessages({
        chatId: 'ui-abort',
        messages: [userMessage('again')],
        trigger: 'submit-message',
        messageId: undefined,
        abortSignal: undefined,
      }),
    );
    assert.equal(textOf(next.message), 'back');
  });

  test('the route is in the OpenAPI document', async () => {
    const res = await svc.request('/openapi.json', { key: null });
    assert.equal(res.status, 200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    assert.ok(doc.paths['/v1/ui/chat']);
  });
});
