/**
 * Debian's nginx with the shipped deploy/nginx/nginx.conf in front of the service: the config is
 * used as it is, except for what only a test must change (the upstream's and the listener's
 * addresses, and the pid, temp and access log paths under a temp prefix). It must pass Server-Sent Events
 * through as they are written and pass a client's hang-up on to the service, and so to the model.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, OutputWatch, REPO_ROOT } from './support/child-service.js';
import { KEY_A, startService, type TestService } from './support/service.js';

const NGINX = '/usr/sbin/nginx';

/** Replaces the one line `pattern` matches; the shipped config must still have it. */
function substitute(text: string, pattern: RegExp, replacement: string): string {
  assert.equal(text.match(new RegExp(pattern.source, 'gm'))?.length, 1, `nginx.conf has one line matching ${pattern}`);
  return text.replace(new RegExp(pattern.source, 'm'), replacement);
}

function nginxConfig(prefix: string, listenPort: number, upstreamPort: number): string {
  let conf = readFileSync(join(REPO_ROOT, 'deploy', 'nginx', 'nginx.conf'), 'utf8');
  conf = substitute(conf, /^pid .*;$/, `pid ${prefix}/nginx.pid;`);
  conf = substitute(conf, /^(\s*)access_log .*;$/, `$1access_log ${prefix}/access.log;`);
  conf = substitute(conf, /^(\s*)server agent-api:8000;$/, `$1server 127.0.0.1:${upstreamPort};`);
  conf = substitute(conf, /^(\s*)listen 80;$/, `$1listen 127.0.0.1:${listenPort};`);
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${prefix}/${k};`).join('\n');
  return substitute(conf, /^http \{$/, `http {\n${temps}`);
}

async function startNginx(upstreamPort: number): Promise<{ url: string; proc: ChildProcess; output: OutputWatch; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-api-nginx-'));
  chmodSync(dir, 0o755); // workers drop to nobody when nginx starts as root
  const port = await freePort();
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreamPort));
  const proc = spawn(NGINX, ['-p', dir, '-e', 'stderr', '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = new OutputWatch(proc);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    assert.equal(proc.exitCode, null, `nginx exited\n${output.err}`);
    try {
      if ((await fetch(`${url}/health`)).status === 200) return { url, proc, output, dir };
    } catch {
      /* not listening yet */
    }
    assert.ok(Date.now() < deadline, `nginx did not proxy /health within 30 s\n${output.err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Complete SSE events (`data:` JSON) in `text` so far. */
function events(text: string): Array<{ type: string; content?: string; reply?: string }> {
  return text
    .split('\n\n')
    .slice(0, -1)
    .flatMap((block) => block.split('\n').filter((l) => l.startsWith('data: ')))
    .map((l) => JSON.parse(l.slice(6)) as { type: string });
}

describe('nginx with deploy/nginx/nginx.conf in front of the service', () => {
  let svc: TestService;
  let nginx: Awaited<ReturnType<typeof startNginx>>;

  before(async () => {
    svc = await startService();
    nginx = await startNginx(Number(new URL(svc.url).port));
  });
  after(async () => {
    nginx?.proc.kill('SIGQUIT');
    await svc?.close();
    if (nginx) rmSync(nginx.dir, { recursive: true, force: true });
  });

  const stream = (message: string, signal?: AbortSignal) =>
    fetch(`${nginx.url}/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY_A, 'accept-encoding': 'gzip' },
      body: JSON.stringify({ message }),
      ...(signal ? { signal } : {}),
    });

  test('/chat/stream arrives token by token, uncompressed, while the model is still sending', async () => {
    const chunks = ['one ', 'two ', 'three ', 'four ', 'five'];
    const first = svc.fake.requests.length;
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 150 });
    const res = await stream('count to five');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    assert.equal(res.headers.get('content-encoding'), null, 'event streams are not gzipped');

    // For each token read through nginx: had the model finished sending when it arrived?
    const modelDoneAtToken: boolean[] = [];
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const tokens = events(text).filter((e) => e.type === 'token').length;
      while (modelDoneAtToken.length < tokens) modelDoneAtToken.push(svc.fake.requests[first]?.finished === true);
    }
    const all = events(text);
    assert.deepEqual(
      all.filter((e) => e.type === 'token').map((e) => e.content),
      chunks,
    );
    assert.equal(all.at(-1)?.type, 'end');
    assert.equal(all.at(-1)?.reply, chunks.join(''));
    // The last token may come with the model's final write; every one before it came on its own.
    assert.deepEqual(modelDoneAtToken.slice(0, -1), [false, false, false, false], 'tokens arrived before the model had finished');
  });

  test('gzip is on for JSON (so leaving streams out of it is a choice)', async () => {
    const res = await fetch(`${nginx.url}/openapi.json`, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-encoding'), 'gzip');
    await res.arrayBuffer();
  });

  test('a client hang-up reaches the model: the service cancels the run and hangs up on it', async () => {
    const first = svc.fake.requests.length;
    const chunks = Array.from({ length: 200 }, (_, i) => `w${i} `);
    svc.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 100 });
    const hangUp = new AbortController();
    const res = await stream('talk for a long time', hangUp.signal);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!events(text).some((e) => e.type === 'token')) {
      const { done, value } = await reader.read();
      assert.ok(!done, 'the stream ended before its first token');
      text += decoder.decode(value, { stream: true });
    }
    hangUp.abort();
    await svc.fake.waitForAbort(first, 15_000);
    assert.equal(svc.fake.requests[first]!.aborted, true);
    assert.equal(svc.fake.requests[first]!.finished, false);
  });
});
