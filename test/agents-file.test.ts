/**
 * AGENTS_FILE as the real process reads it: a good file serves its agents; a bad one stops the
 * start with one message naming the file and the field, no stack, a non-zero exit (with WORKERS=2,
 * said once, by the primary).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startChild, stopAllChildren } from './support/child-service.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';

after(stopAllChildren);

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'agents-file-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `content` (JSON unless a string) as agents.json in a fresh folder; returns its path. */
function agentsFile(content: unknown): string {
  const path = join(mkdtempSync(join(dir, 'f-')), 'agents.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/** Starts the service with AGENTS_FILE=`path`; it must exit non-zero at once: returns its stderr. */
async function failedStart(path: string, env: Record<string, string> = {}): Promise<string> {
  const child = await startChild({ env: { VALID_API_KEYS: 'k', AGENTS_FILE: path, ...env }, waitForHealth: false });
  try {
    const { code, signal } = await child.waitForExit(15_000);
    const stderr = child.stderr();
    assert.equal(signal, null, stderr);
    assert.equal(code, 1, stderr);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
    assert.doesNotMatch(stderr, /Failed to start|ConfigError/);
    return stderr.trim();
  } finally {
    await child.stop();
  }
}

describe('AGENTS_FILE in the real process', () => {
  let fake: FakeLlm;
  before(async () => {
    fake = await startFakeLlm();
  });
  after(() => fake.close());

  test('a good file: /v1/models lists its agents, and each answers with its own model', async () => {
    const path = agentsFile({
      default: 'support',
      agents: {
        support: { instructions: 'You are a support agent.', tools: ['current_time'] },
        math: { instructions: 'You solve arithmetic.', tools: ['calculator'], model: 'another-model-name', max_steps: 4 },
      },
    });
    const child = await startChild({ env: { VALID_API_KEYS: 'k', AGENTS_FILE: path, LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model' } });
    try {
      const models = (await (await child.fetch('/v1/models', { key: 'k' })).json()) as { data: Array<{ id: string }> };
      assert.deepEqual(
        models.data.map((m) => m.id),
        ['support', 'math'],
      );
      fake.enqueue({ text: '4' });
      const res = await child.fetch('/chat', { key: 'k', method: 'POST', json: { message: '2+2', agent: 'math' } });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(fake.requests.at(-1)?.body.model, 'another-model-name');
    } finally {
      await child.stop();
    }
  });

  test('an unknown tool: the file, the field and the built-in tools', async () => {
    const path = agentsFile({ agents: { math: { tools: ['calculatr'] } } });
    assert.equal(await failedStart(path), `AGENTS_FILE ${path}: agents.math.tools.0: unknown tool 'calculatr' (built-in tools: calculator, current_time)`);
  });

  test('an unknown default names `default` and the agents there are', async () => {
    const path = agentsFile({ default: 'physics', agents: { support: {}, math: {} } });
    assert.equal(await failedStart(path), `AGENTS_FILE ${path}: default: 'physics' is not one of the agents (support, math)`);
  });

  test('a misspelt key, a wrong type, a bad agent name: each names its field', async () => {
    const misspelt = agentsFile({ agents: { math: { max_step: 4 } } });
    assert.equal(await failedStart(misspelt), `AGENTS_FILE ${misspelt}: agents.math: Unrecognized key: "max_step"`);
    const wrongType = agentsFile({ agents: { math: { max_steps: 'four' } } });
    assert.match(await failedStart(wrongType), /^AGENTS_FILE .*: agents\.math\.max_steps: Invalid input: expected number, received string$/);
    const badName = agentsFile({ agents: { 'has space': {} } });
    assert.equal(await failedStart(badName), `AGENTS_FILE ${badName}: agents.has space: an agent name is 1 to 64 letters, digits and . _ -`);
  });

  test('not JSON, or no file at all: the file and why', async () => {
    const broken = agentsFile('{"agents": ');
    assert.match(await failedStart(broken), new RegExp(`^AGENTS_FILE ${broken}: is not valid JSON \\(.+\\)$`));
    const missing = join(dir, 'missing.json');
    assert.equal(await failedStart(missing), `AGENTS_FILE ${missing}: cannot be read (ENOENT: no such file or directory)`);
  });

  test('WORKERS=2: the primary reports a bad file once and forks no worker', async () => {
    const path = agentsFile({ agents: {} });
    const stderr = await failedStart(path, { WORKERS: '2' });
    assert.equal(stderr, `AGENTS_FILE ${path}: agents: names no agent`);
  });
});
