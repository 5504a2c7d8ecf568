/**
 * The Agent contract (src/agent/agent.ts) as createAgent keeps it, on the fake model: what run()
 * does with a signal that is already aborted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createAgent } from '../src/agent/agent.js';
import { AgentError } from '../src/agent/agent-error.js';
import { createChatModel } from '../src/agent/chat-model.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake.close());

describe('createAgent: run()', () => {
  test('with an already-aborted signal it throws AgentError(aborted) and calls no model', async () => {
    const agent = createAgent({ model: createChatModel({ baseURL: fake.url, model: 'fake-model' }), maxRetries: 0 });
    await assert.rejects(
      async () => {
        for await (const _ of agent.run({ history: [], message: 'hi', signal: AbortSignal.abort(new Error('gone')) })) {
          /* nothing */
        }
      },
      (err: unknown) => err instanceof AgentError && err.code === 'aborted',
    );
    assert.equal(fake.requests.length, 0);
  });
});
