/**
 * Start-up errors as a real process: a setting that cannot work stops the start with one line
 * naming the variable and what to do, no stack trace, and a non-zero exit. (Backends that do not
 * answer: test/startup-backends.test.ts.)
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { loadConfig, ConfigError } from '../src/config.js';
import { freePort, startChild, stopAllChildren } from './support/child-service.js';

after(stopAllChildren);

async function failedStart(env: Record<string, string>, port?: number): Promise<string> {
  const child = await startChild({ env: { VALID_API_KEYS: 'k', ...env }, waitForHealth: false, ...(port === undefined ? {} : { port }) });
  try {
    const { code, signal } = await child.waitForExit(30_000);
    const stderr = child.stderr();
    assert.equal(signal, null, stderr);
    assert.notEqual(code, 0, stderr);
    assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
    assert.doesNotMatch(stderr, /Failed to start/);
    return stderr.trim();
  } finally {
    await child.stop();
  }
}

describe('the address to listen on', () => {
  test('HOST that does not resolve: names HOST and what to set', async () => {
    const stderr = await failedStart({ HOST: 'no-such-host.invalid' });
    assert.match(stderr, /^HOST: no-such-host\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\); set HOST to an address of this machine/m);
  });

  test('HOST that is not this machine: names HOST', async () => {
    // TEST-NET-1 (RFC 5737): never assigned to a machine.
    const stderr = await failedStart({ HOST: '192.0.2.1' });
    assert.match(stderr, /^HOST: 192\.0\.2\.1 is not an address of this machine \(EADDRNOTAVAIL\)/m);
  });

  test('PORT in use: names PORT and the port', async () => {
    const port = await freePort();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
    try {
      const stderr = await failedStart({}, port);
      assert.equal(stderr, `PORT: ${port} is already in use on 127.0.0.1 (EADDRINUSE); stop what listens there or set PORT to a free port`);
    } finally {
      taken.close();
    }
  });
});

describe('settings that cannot work', () => {
  test('a malformed CORS_ORIGINS entry is named', async () => {
    const stderr = await failedStart({ CORS_ORIGINS: 'https://app.example,app.example/path' });
    assert.match(stderr, /^\s+CORS_ORIGINS: 'app\.example\/path' is not an origin/m);
  });

  test('LLM_BASE_URL without LLM_MODEL names LLM_MODEL', async () => {
    const stderr = await failedStart({ LLM_BASE_URL: 'http://127.0.0.1:1/v1' });
    assert.match(stderr, /^\s+LLM_MODEL: must be set when LLM_BASE_URL is/m);
  });

  test('CORS_ORIGINS takes origins and *, nothing with a path or another scheme', () => {
    assert.deepEqual(loadConfig({ CORS_ORIGINS: 'https://a.example:8443, http://b.example' }).CORS_ORIGINS, ['https://a.example:8443', 'http://b.example']);
    for (const bad of ['http://a.example/', 'ftp://a.example', 'a.example', 'http://a.example/x']) {
      assert.throws(
        () => loadConfig({ CORS_ORIGINS: bad }),
        (err: unknown) => err instanceof ConfigError && err.message.includes(`'${bad}'`),
      );
    }
  });

  test('LLM_BASE_URL without LLM_MODEL is fine with AGENTS_FILE (its agents name their models)', () => {
    assert.equal(loadConfig({ LLM_BASE_URL: 'http://x.example/v1', AGENTS_FILE: 'agents.json' }).LLM_MODEL, undefined);
  });
});
