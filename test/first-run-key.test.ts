/**
 * The first run without VALID_API_KEYS, as a real process: the generated key is kept in
 * DATA_DIR/api-key (0600, in a 0700 directory) and read back by the next start, so sessions made
 * with it stay reachable; the start banner shows the key in full only on the start that made it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generatedKeys, startChild, stopAllChildren, type ChildService } from './support/child-service.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';

after(stopAllChildren);

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake?.close());

const model = () => ({ LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model' });

/** The banner once it is complete (its last line names the key). */
async function banner(child: ChildService): Promise<string[]> {
  await child.waitForOutput((text) => /API keys?:/.test(text) && text.trimEnd().split('\n').length >= 4, 'stderr');
  return child.stderr().trimEnd().split('\n');
}

describe('a key generated on the first start is kept', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'agent-api-first-run-'));
  const db = `sqlite:${join(cwd, 'a.db')}`;
  const keyFile = join(cwd, 'data', 'api-key');
  let key: string;
  let sessionId: string;
  after(() => rmSync(cwd, { recursive: true, force: true }));

  test('first start: the banner names the URL, the playground, /docs and the whole key; the file is 0600 in a 0700 directory', async () => {
    const child = await startChild({ cwd, env: { DATABASE_URL: db, ...model() } });
    try {
      const lines = await banner(child);
      assert.ok(lines.length <= 8, lines.join('\n'));
      assert.equal(lines[0], `agent-api ${lines[0]!.split(' ')[1]} listening on ${child.url}`);
      assert.ok(lines.includes(`  playground: ${child.url}/`), lines.join('\n'));
      assert.ok(lines.includes(`  API docs:   ${child.url}/docs`), lines.join('\n'));
      const keys = generatedKeys(child.stderr());
      assert.equal(keys.length, 1, child.stderr());
      key = keys[0]!;
      assert.match(child.stderr(), new RegExp(`kept in ${keyFile.replaceAll('/', '\\/')}`));
      assert.equal(readFileSync(keyFile, 'utf8').trim(), key);
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      assert.equal(statSync(join(cwd, 'data')).mode & 0o777, 0o700);
      assert.ok(!child.stdout().includes(key), 'the key is not in the logs');

      fake.enqueue({ text: 'remembered' });
      const chat = await child.request('/chat', { key, json: { message: 'hello' } });
      assert.equal(chat.status, 200, chat.text);
      sessionId = chat.json<{ session_id: string }>().session_id;
    } finally {
      await child.stop();
    }
  });

  test('a restart reads the same key back: it authenticates, the session is still reachable, and the banner shows only a prefix', async () => {
    const child = await startChild({ cwd, env: { DATABASE_URL: db, ...model() } });
    try {
      const lines = await banner(child);
      assert.ok(!child.stderr().includes(key), `the whole key is shown only once\n${child.stderr()}`);
      assert.ok(
        lines.some((l) => l.includes(`${key.slice(0, 8)}…`) && l.includes(`kept in ${keyFile}`)),
        lines.join('\n'),
      );
      const session = await child.request(`/sessions/${sessionId}`, { key });
      assert.equal(session.status, 200, session.text);
      assert.equal((await child.request('/sessions', { key: 'aak_someotherkeythatisnotkept000' })).status, 401);
    } finally {
      await child.stop();
    }
  });

  test('WORKERS=2: the primary prints the banner once and every worker accepts the kept key', async () => {
    const child = await startChild({ cwd, env: { DATABASE_URL: db, WORKERS: '2', ...model() } });
    try {
      await banner(child);
      for (let i = 0; i < 4; i++) assert.equal((await child.request('/sessions', { key })).status, 200);
      assert.equal(child.stderr().match(/listening on/g)?.length, 1, child.stderr());
    } finally {
      await child.stop();
    }
  });
});

describe('when the key cannot be kept, or is given', () => {
  test('a DATA_DIR that cannot be created: one line says so, the start goes on with the key shown in full', async () => {
    const child = await startChild({ env: { DATA_DIR: '/dev/null/data' } });
    try {
      await banner(child);
      const warning = child
        .stderr()
        .split('\n')
        .filter((l) => l.startsWith('DATA_DIR:'));
      assert.equal(warning.length, 1, child.stderr());
      assert.match(warning[0]!, /cannot keep the generated API key in \/dev\/null\/data\/api-key \(ENOTDIR\)/);
      const [key] = generatedKeys(child.stderr());
      assert.ok(key);
      assert.match(child.stderr(), /not kept/);
      assert.equal((await child.request('/sessions', { key })).status, 200);
    } finally {
      await child.stop();
    }
  });

  test('a key file that holds no key: the start stops naming the file, without a stack trace', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'agent-api-first-run-'));
    try {
      mkdirSync(join(cwd, 'data'), { mode: 0o700 });
      writeFileSync(join(cwd, 'data', 'api-key'), 'not a key\n', { mode: 0o600 });
      const child = await startChild({ cwd, waitForHealth: false });
      try {
        const { code } = await child.waitForExit(15_000);
        assert.notEqual(code, 0);
        assert.match(child.stderr(), new RegExp(`^DATA_DIR: ${join(cwd, 'data', 'api-key').replaceAll('/', '\\/')} holds no API key`, 'm'));
        assert.doesNotMatch(child.stderr(), /^\s+at /m);
      } finally {
        await child.stop();
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('with VALID_API_KEYS no key is printed and no file is written', async () => {
    const child = await startChild({ env: { VALID_API_KEYS: 'aak_configuredkeyconfiguredkey000' } });
    try {
      const lines = await banner(child);
      assert.ok(lines.includes('  API keys:   from VALID_API_KEYS'), lines.join('\n'));
      assert.equal(generatedKeys(child.stderr()).length, 0, child.stderr());
      assert.equal(existsSync(join(child.dir, 'data', 'api-key')), false);
    } finally {
      await child.stop();
    }
  });
});
