import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig, loadDotEnv } from '../src/config.js';
import { freePort, generatedKeys, startChild, stopAllChildren } from './support/child-service.js';

after(stopAllChildren);

const tempDirs: string[] = [];
after(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'agent-api-config-'));
  tempDirs.push(d);
  return d;
}

describe('loadConfig defaults', () => {
  test('an empty environment gives the documented defaults', () => {
    const c = loadConfig({});
    assert.equal(c.PORT, 8000);
    assert.equal(c.HOST, '0.0.0.0');
    assert.equal(c.AGENT_MAX_STEPS, 8);
    assert.equal(c.SSE_HEARTBEAT_MS, 15_000);
    assert.equal(c.WORKERS, 1);
    assert.equal(c.DATABASE_URL, 'sqlite:./data/agent-api.db');
    assert.deepEqual(c.CORS_ORIGINS, []);
    assert.equal(c.VALID_API_KEYS, undefined);
    assert.equal(c.LLM_PROVIDER, 'openai-compatible');
    assert.equal(c.LLM_BASE_URL, undefined);
    assert.equal(c.LLM_MODEL, undefined);
  });

  test('variables the schema does not know are ignored', () => {
    assert.equal(loadConfig({ SOMETHING_ELSE: 'x', PATH: '/bin' }).PORT, 8000);
  });
});

describe('loadConfig parsing', () => {
  test('VALID_API_KEYS and CORS_ORIGINS are trimmed comma lists without empty entries', () => {
    const c = loadConfig({ VALID_API_KEYS: ' key-one , key-two,,key-three ', CORS_ORIGINS: 'https://a.example , https://b.example,' });
    assert.deepEqual(c.VALID_API_KEYS, ['key-one', 'key-two', 'key-three']);
    assert.deepEqual(c.CORS_ORIGINS, ['https://a.example', 'https://b.example']);
    assert.deepEqual(loadConfig({ CORS_ORIGINS: '*' }).CORS_ORIGINS, ['*']);
  });

  test('numbers are parsed (surrounding spaces allowed)', () => {
    const c = loadConfig({ PORT: ' 9123 ', AGENT_MAX_STEPS: '3', SSE_HEARTBEAT_MS: '250', WORKERS: '4' });
    assert.equal(c.PORT, 9123);
    assert.equal(c.AGENT_MAX_STEPS, 3);
    assert.equal(c.SSE_HEARTBEAT_MS, 250);
    assert.equal(c.WORKERS, 4);
    assert.equal(loadConfig({ PORT: '0' }).PORT, 0);
    assert.equal(loadConfig({ PORT: '65535' }).PORT, 65535);
  });

  test('WORKERS=auto means os.availableParallelism()', () => {
    assert.equal(loadConfig({ WORKERS: 'auto' }).WORKERS, os.availableParallelism());
  });

  test('DATABASE_URL accepts sqlite:PATH, sqlite::memory: and postgres URLs', () => {
    for (const url of [
      'sqlite:./data/x.db',
      'sqlite:/var/lib/agent/agent.db',
      'sqlite::memory:',
      'postgres://user:pass@db.example:5432/agent',
      'postgresql://localhost/agent',
    ]) {
      assert.equal(loadConfig({ DATABASE_URL: url }).DATABASE_URL, url, url);
    }
  });

  test('LLM settings are read as given', () => {
    const c = loadConfig({ LLM_BASE_URL: 'http://localhost:11434/v1', LLM_MODEL: 'qwen', LLM_API_KEY: 'sk-x', LOG_LEVEL: 'debug' });
    assert.equal(c.LLM_BASE_URL, 'http://localhost:11434/v1');
    assert.equal(c.LLM_MODEL, 'qwen');
    assert.equal(c.LLM_API_KEY, 'sk-x');
    assert.equal(c.LOG_LEVEL, 'debug');
  });

  test('LLM_PROVIDER takes openai-compatible, openai, anthropic and google', () => {
    for (const provider of ['openai-compatible', 'openai', 'anthropic', 'google']) {
      assert.equal(loadConfig({ LLM_PROVIDER: provider }).LLM_PROVIDER, provider);
    }
  });

  test('empty and blank strings count as unset', () => {
    const c = loadConfig({
      PORT: '',
      HOST: '  ',
      WORKERS: '',
      AGENT_MAX_STEPS: ' ',
      SSE_HEARTBEAT_MS: '',
      DATABASE_URL: '',
      CORS_ORIGINS: '',
      VALID_API_KEYS: '',
      LLM_BASE_URL: '',
      LLM_MODEL: '',
      LLM_PROVIDER: ' ',
      LOG_LEVEL: '',
    });
    assert.deepEqual(c, loadConfig({}));
  });
});

describe('loadConfig rejects invalid values with a ConfigError naming the variable', () => {
  const cases: Array<[string, string]> = [
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['PORT', '80.5'],
    ['WORKERS', '0'],
    ['WORKERS', 'lots'],
    ['AGENT_MAX_STEPS', '0'],
    ['LOG_LEVEL', 'loud'],
    ['LLM_PROVIDER', 'claude'],
    ['LLM_PROVIDER', 'Anthropic'],
    ['LLM_PROVIDER', 'openai_compatible'],
    ['LLM_BASE_URL', 'not-a-url'],
    ['LLM_BASE_URL', 'ftp://files.example/v1'],
    ['DATABASE_URL', 'mysql://x'],
    ['VALID_API_KEYS', ',,'],
    ['VALID_API_KEYS', ' , '],
    ['SSE_HEARTBEAT_MS', '-5'],
  ];
  for (const [name, value] of cases) {
    test(`${name}=${JSON.stringify(value)}`, () => {
      let caught: unknown;
      try {
        loadConfig({ [name]: value });
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
      assert.equal(caught.name, 'ConfigError');
      assert.match(caught.message, new RegExp(`^\\s*${name}: `, 'm'), caught.message);
      // Only the bad variable is blamed.
      const blamed = [...caught.message.matchAll(/^\s+([A-Z_]+):/gm)].map((m) => m[1]);
      assert.deepEqual(blamed, [name], caught.message);
    });
  }

  test('a bad LLM_PROVIDER is told the values it may take', () => {
    assert.throws(
      () => loadConfig({ LLM_PROVIDER: 'azure' }),
      (err: unknown) => err instanceof ConfigError && /^\s+LLM_PROVIDER: must be one of openai-compatible, openai, anthropic, google$/m.test(err.message),
    );
  });

  test('every invalid variable is named at once', () => {
    assert.throws(
      () => loadConfig({ PORT: 'abc', WORKERS: 'lots' }),
      (err: unknown) => err instanceof ConfigError && /\bPORT\b/.test(err.message) && /\bWORKERS\b/.test(err.message),
    );
  });

  test('WORKERS > 1 with sqlite::memory: is refused: each worker would get its own empty, unmigrated database', () => {
    assert.throws(
      () => loadConfig({ WORKERS: '2', DATABASE_URL: 'sqlite::memory:' }),
      (err: unknown) => err instanceof ConfigError && /DATABASE_URL/.test(err.message) && /WORKERS/.test(err.message),
    );
    assert.equal(loadConfig({ WORKERS: '1', DATABASE_URL: 'sqlite::memory:' }).WORKERS, 1);
    assert.equal(loadConfig({ WORKERS: '2', DATABASE_URL: 'sqlite:./x.db' }).WORKERS, 2);
  });
});

describe('loadDotEnv', () => {
  // Variable names no other code reads, restored afterwards.
  const names = ['AGENT_API_TEST_FROM_FILE', 'AGENT_API_TEST_REAL', 'AGENT_API_TEST_EMPTY'] as const;
  const saved = new Map(names.map((n) => [n, process.env[n]]));
  after(() => {
    for (const [n, v] of saved) {
      if (v === undefined) delete process.env[n];
      else process.env[n] = v;
    }
  });

  test('fills unset variables from the file; real ones win; empty real ones count as unset', () => {
    const dir = tempDir();
    const file = join(dir, '.env');
    writeFileSync(
      file,
      ['# comment', 'AGENT_API_TEST_FROM_FILE=file-value', 'AGENT_API_TEST_REAL="file"', 'AGENT_API_TEST_EMPTY=file-fills-blank', ''].join('\n'),
    );
    delete process.env['AGENT_API_TEST_FROM_FILE'];
    process.env['AGENT_API_TEST_REAL'] = 'real';
    process.env['AGENT_API_TEST_EMPTY'] = '';
    loadDotEnv(file);
    assert.equal(process.env['AGENT_API_TEST_FROM_FILE'], 'file-value');
    assert.equal(process.env['AGENT_API_TEST_REAL'], 'real');
    assert.equal(process.env['AGENT_API_TEST_EMPTY'], 'file-fills-blank');
  });

  test('a missing file is not an error', () => {
    assert.doesNotThrow(() => loadDotEnv(join(tempDir(), 'no-such.env')));
  });

  test('an unreadable path (a directory) is an error', () => {
    assert.throws(() => loadDotEnv(tempDir()));
  });
});

describe('configuration as seen by the process', () => {
  test('PORT=abc: exits non-zero quickly, stderr names PORT, no stack trace', async () => {
    const started = Date.now();
    const child = await startChild({ env: { PORT: 'abc', VALID_API_KEYS: 'k' }, waitForHealth: false });
    const { code } = await child.waitForExit(15_000);
    const elapsed = Date.now() - started;
    assert.notEqual(code, 0);
    assert.notEqual(code, null);
    assert.ok(elapsed < 15_000, `took ${elapsed} ms`);
    const stderr = child.stderr();
    assert.match(stderr, /\bPORT\b/);
    assert.match(stderr, /Invalid configuration/);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
    assert.doesNotMatch(stderr, /ConfigError|node:internal/);
    await child.stop();
  });

  test('LLM_PROVIDER=bogus: exits non-zero, stderr names LLM_PROVIDER and the values it may take', async () => {
    const child = await startChild({ env: { LLM_PROVIDER: 'bogus', VALID_API_KEYS: 'k' }, waitForHealth: false });
    const { code } = await child.waitForExit(15_000);
    assert.notEqual(code, 0);
    assert.notEqual(code, null);
    const stderr = child.stderr();
    assert.match(stderr, /LLM_PROVIDER: must be one of openai-compatible, openai, anthropic, google/);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
    await child.stop();
  });

  test('.env in the working directory supplies PORT and VALID_API_KEYS', async () => {
    const cwd = tempDir();
    const port = await freePort();
    writeFileSync(join(cwd, '.env'), `PORT=${port}\nVALID_API_KEYS=dotenv-key-1, dotenv-key-2\n`);
    // PORT is deliberately absent from the real environment: only .env names the port.
    const child = await startChild({ cwd, port, env: { PORT: undefined } });
    try {
      assert.equal((await child.request('/sessions', { key: 'dotenv-key-2' })).status, 200);
      assert.equal((await child.request('/sessions', { key: 'dotenv-key-1' })).status, 200);
      assert.equal((await child.request('/sessions', { key: 'some-other-key' })).status, 401);
      assert.deepEqual(generatedKeys(child.stderr()), [], 'no key is generated when .env sets VALID_API_KEYS');
    } finally {
      await child.stop();
    }
  });

  test('real environment variables override .env; empty ones do not', async () => {
    const cwd = tempDir();
    const dotenvPort = await freePort();
    writeFileSync(join(cwd, '.env'), `PORT=${dotenvPort}\nVALID_API_KEYS=dotenv-key\nCORS_ORIGINS=https://from-dotenv.example\n`);
    // The helper passes a fresh PORT and VALID_API_KEYS in the real environment.
    const child = await startChild({ cwd, env: { VALID_API_KEYS: 'real-key', CORS_ORIGINS: '' } });
    try {
      assert.notEqual(child.port, dotenvPort);
      assert.equal((await child.request('/sessions', { key: 'real-key' })).status, 200);
      assert.equal((await child.request('/sessions', { key: 'dotenv-key' })).status, 401);
      // CORS_ORIGINS is empty in the real environment, which counts as unset, so .env's value applies.
      const res = await child.fetch('/health', { headers: { origin: 'https://from-dotenv.example' } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://from-dotenv.example');
    } finally {
      await child.stop();
    }
  });
});
