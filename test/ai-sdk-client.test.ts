/**
 * The AI SDK as a client of ours: `@ai-sdk/openai-compatible` pointed at our /v1 (generateText,
 * streamText), and the README's `curl -N` example for /v1/ui/chat replayed as written and read
 * back with the SDK's own UI-stream reader.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, parseJsonEventStream, readUIMessageStream, streamText, uiMessageChunkSchema, type UIMessage, type UIMessageChunk } from 'ai';
import { KEY_A, startService, type TestService } from './support/service.js';

describe('the AI SDK as a client', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(() => svc.close());

  const ours = () => createOpenAICompatible({ name: 'agent-api', baseURL: `${svc.url}/v1`, apiKey: KEY_A, includeUsage: true }).chatModel('agent');

  test('generateText through @ai-sdk/openai-compatible: the agent runs its tools and answers', async () => {
    svc.fake.enqueue({ toolCalls: [{ name: 'calculator', arguments: { expression: '6*7' } }] }, { text: 'It is 42.' });
    const { text, usage } = await generateText({ model: ours(), prompt: 'What is 6*7?', maxRetries: 0 });
    assert.equal(text, 'It is 42.');
    assert.ok((usage.totalTokens ?? 0) > 0, 'usage reported');
    // The tool loop ran on our side: the fake saw the calculator result in its second request.
    assert.match(JSON.stringify(svc.fake.requests.at(-1)?.body.messages), /"result\\?":42/);
  });

  test('streamText through @ai-sdk/openai-compatible: deltas arrive and join to the reply', async () => {
    svc.fake.enqueue({ text: 'Streaming from the agent.', chunks: ['Streaming ', 'from ', 'the agent.'], delayMs: 20 });
    const result = streamText({ model: ours(), prompt: 'Stream something', maxRetries: 0 });
    const deltas: string[] = [];
    for await (const delta of result.textStream) deltas.push(delta);
    assert.ok(deltas.length >= 3, `several deltas (${deltas.length})`);
    assert.equal(deltas.join(''), 'Streaming from the agent.');
    assert.equal((await result.usage).outputTokens, 3);
  });

  test("the README's /v1/ui/chat curl example, read back by the SDK's readUIMessageStream", async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_1', name: 'calculator', arguments: { expression: '2 + 3 * 4' } }] }, { text: 'It is 14.' });
    // The README's request, byte for byte apart from host and key.
    const res = await fetch(`${svc.url}/v1/ui/chat`, {
      method: 'POST',
      headers: { 'X-API-Key': KEY_A, 'Content-Type': 'application/json' },
      body: '{"id":"demo-ui","messages":[{"id":"m1","role":"user","parts":[{"type":"text","text":"What is 2 + 3 * 4?"}]}],"trigger":"submit-message"}',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-vercel-ai-ui-message-stream'), 'v1');
    const chunks = parseJsonEventStream({ stream: res.body!, schema: uiMessageChunkSchema }).pipeThrough(
      new TransformStream<{ success: boolean; value?: unknown }, UIMessageChunk>({
        transform(parsed, controller) {
          assert.ok(parsed.success, 'every chunk matches the SDK schema');
          controller.enqueue(parsed.value as UIMessageChunk);
        },
      }),
    );
    let last: UIMessage | undefined;
    for await (const message of readUIMessageStream({ stream: chunks })) last = message;
    const text = last?.parts.flatMap((p) => (p.type === 'text' ? [p.text] : [])).join('');
    assert.equal(text, 'It is 14.');
    const tool = last?.parts.find((p) => p.type === 'tool-calculator') as { state?: string; output?: unknown } | undefined;
    assert.equal(tool?.state, 'output-available');
    assert.deepEqual(tool?.output, { expression: '2 + 3 * 4', result: 14 });
  });
});
