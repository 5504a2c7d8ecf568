/**
 * Starting the service as a real process when a backend it needs does not answer: one line naming
 * the variable and a non-zero exit, before any worker is forked; and a primary whose workers keep
 * failing to start gives up instead of forking replacements forever.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { freePort, startChild, stopAllChildren, type ChildService } from './support/child-service.js';

after(stopAllChildren);

/** Nothing listens on port 1. */
const REDIS_DOWN = 'redis://127.0.0.1:1';
const POSTGRES_DOWN = 'postgres://agent:secret@127.0.0.1:1/agent';

/** The lines in which the primary reports a worker's exit: each one is a fork that failed. */
const workerExits = (child: ChildService) => child.stderr().match(/^worker \d+ exited/gm)?.length ?? 0;

/** Starts the service, waits for it to exit and checks the exit was quick, non-zero and without a stack trace. */
async function failedStart(env: Record<string, string>): Promise<{ child: ChildService; stderr: string }> {
  const started = Date.now();
  const child = await startChild({ env: { VALID_API_KEYS: 'k', ...env }, waitForHealth: false });
  try {
    const { code, signal } = await child.waitForExit(15_000);
    const elapsed = Date.now() - started;
    const stderr = child.stderr();
    assert.equal(signal, null, stderr);
    assert.notEqual(code, 0, stderr);
    assert.ok(elapsed < 10_000, `exited after ${elapsed} ms\n${stderr}`);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
    assert.doesNotMatch(stderr, /Failed to start|ConfigError/);
    return { child, stderr };
  } finally {
    await child.stop();
  }
}

describe('a backend that does not answer at start', () => {
  test('REDIS_URL down, WORKERS=2: the primary exits non-zero naming REDIS_URL, and forks no worker', async () => {
    const { child, stderr } = await failedStart({ WORKERS: '2', REDIS_URL: REDIS_DOWN });
    assert.match(stderr, /^REDIS_URL: cannot reach Redis at 127\.0\.0\.1:1 \(.*ECONNREFUSED.*\)$/m);
    assert.equal(stderr.match(/REDIS_URL/g)?.length, 1, `reported once, by the primary alone\n${stderr}`);
    assert.equal(workerExits(child), 0, stderr);
  });

  test('REDIS_URL down, a single process: the same one line and a non-zero exit', async () => {
    const { stderr } = await failedStart({ WORKERS: '1', REDIS_URL: REDIS_DOWN });
    assert.equal(stderr.trim(), 'REDIS_URL: cannot reach Redis at 127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1)');
  });

  for (const workers of ['1', '2']) {
    test(`DATABASE_URL at a Postgres that is down, WORKERS=${workers}: one line naming DATABASE_URL, without the password`, async () => {
      const { child, stderr } = await failedStart({ WORKERS: workers, DATABASE_URL: POSTGRES_DOWN });
      assert.equal(stderr.trim(), 'DATABASE_URL: cannot connect to Postgres at 127.0.0.1:1/agent (connect ECONNREFUSED 127.0.0.1:1)');
      assert.equal(workerExits(child), 0);
    });
  }
});

describe('workers that keep failing to start', () => {
  test('WORKERS=2 on a port already taken: the primary stops forking after the replacements fail too, and exits non-zero', async () => {
    // The backends answer, so the primary forks; every worker then fails to listen.
    const port = await freePort();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const child = await startChild({ port, env: { VALID_API_KEYS: 'k', WORKERS: '2' }, waitForHealth: false });
      try {
        // It ends by itself (no time bound beyond the wait: a loaded machine starts workers slowly);
        // the count of worker exits below is what shows it stopped forking.
        const { code } = await child.waitForExit(60_000);
        const stderr = child.stderr();
        assert.notEqual(code, 0, stderr);
        assert.match(stderr, /EADDRINUSE/, 'the workers said why');
        assert.match(stderr, /^workers keep failing to start \(3 in a row exited before listening, the last with exit code 1\); not starting more$/m);
        // The two workers fail and are replaced; the first replacement to fail too is the third in a row, and ends it.
        assert.equal(workerExits(child), 2, stderr);
      } finally {
        await child.stop();
      }
    } finally {
      taken.close();
    }
  });
});
