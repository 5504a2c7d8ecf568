/**
 * A slow reader costs bounded memory: 50 clients that stop reading a large, fast reply (the stream
 * that started it, followers that joined while it ran and followers that joined after it ended,
 * each replaying the whole log) hold back only their own sockets. The run still completes at full
 * speed, and the service's RSS stays within 100 MB of a service that has served one such reply
 * (before runs had their own log, each such stream buffered the whole reply: 50 streams of a 4 MB
 * reply took RSS from 185 to 586 MB; before late readers shared the log's events, 50 of them took
 * it up 200–300 MB). Measured now: +25–50 MB.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Run } from '../src/core/runs.js';
import { startChild, stopAllChildren, type ChildService } from './support/child-service.js';
import { startFakeLlm, type FakeLlm } from './support/fake-llm.js';

const KEY = 'memory-key';
const READERS = 50;
const REPLY_BYTES = 4 * 1024 * 1024;
const CHUNK = 16 * 1024;
const YOUNG_GENERATION = '--max-semi-space-size=16';

let fake: FakeLlm;
let svc: ChildService;
before(async () => {
  fake = await startFakeLlm();
  // V8's young generation is pinned to Node 20's default (16 MB semi-spaces): on Node 22+ V8 grows
  // it to 64 MB semi-spaces (128 MB of RSS) under any burst of short-lived objects, with or without
  // readers (a loop allocating garbage, no service at all, shows the same), which is V8's sizing
  // policy, not what the streams hold. This test is about the latter, on every Node line alike.
  svc = await startChild({
    env: { NODE_OPTIONS: YOUNG_GENERATION, VALID_API_KEYS: KEY, LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake' },
  });
});
after(async () => {
  await stopAllChildren();
  await fake.close();
});

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kb, 'VmRSS is readable');
  return Number(kb) / 1024;
}

/** Sends a request and stops reading after the first bytes: the socket stays open, unread. */
function stalledReader(port: number, method: 'GET' | 'POST', path: string, body?: string): Promise<{ first: string; destroy(): void }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { 'x-api-key': KEY };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      res.once('data', (chunk: Buffer) => {
        res.pause(); // and never read again
        resolve({ first: chunk.toString('utf8'), destroy: () => req.destroy() });
      });
    });
    req.once('error', reject);
    req.end(body);
  });
}

describe('slow readers', () => {
  test(`${READERS} readers that stop reading a ${REPLY_BYTES / 1024 / 1024} MB reply: the run completes, RSS stays within 100 MB`, async (t) => {
    const text = 'x'.repeat(CHUNK - 1) + ' ';
    const chunks = Array.from({ length: REPLY_BYTES / CHUNK }, () => text);
    // Warm up with one reply as large, read by one reader that keeps up (code loaded, pools filled,
    // the heap grown to what one such run needs): the baseline is that service, so what is measured
    // is what the stalled readers add.
    fake.enqueue({ text: chunks.join(''), chunks, delayMs: 0 });
    const warm = await svc.request('/chat', { key: KEY, json: { message: 'warm up' } });
    assert.equal(warm.status, 200);
    assert.equal(warm.json<{ reply: string }>().reply.length, REPLY_BYTES);
    await sleep(200);
    const baseline = rssMb(svc.pid);

    fake.enqueue({ text: chunks.join(''), chunks, delayMs: 0 });
    const starter = await stalledReader(svc.port, 'POST', '/chat/stream', JSON.stringify({ message: 'a big one', on_disconnect: 'continue' }));
    const runId = /"run_id":"(run_[0-9a-f]+)"/.exec(starter.first)?.[1];
    assert.ok(runId, starter.first.slice(0, 200));
    const during = Math.floor(READERS / 2) - 1;
    const readers = [starter, ...(await Promise.all(Array.from({ length: during }, () => stalledReader(svc.port, 'GET', `/runs/${runId}/events`))))];
    try {
      // The run is not slowed by its readers: it completes although nobody reads it.
      let run: Run | undefined;
      for (let i = 0; i < 600; i++) {
        run = (await svc.request(`/runs/${runId}`, { key: KEY })).json<Run>();
        if (run.status !== 'running') break;
        await sleep(50);
      }
      assert.equal(run?.status, 'completed');
      assert.equal(run.reply.length, REPLY_BYTES);
      // The other half join after the end (a page reloaded, other tabs): the whole log is replayed to each.
      readers.push(...(await Promise.all(Array.from({ length: READERS - 1 - during }, () => stalledReader(svc.port, 'GET', `/runs/${runId}/events`)))));
      await sleep(500);
      const peak = rssMb(svc.pid);
      t.diagnostic(`RSS ${baseline.toFixed(0)} MB before, ${peak.toFixed(0)} MB with ${READERS} stalled readers`);
      assert.ok(peak - baseline < 100, `RSS went from ${baseline.toFixed(0)} MB to ${peak.toFixed(0)} MB with ${READERS} stalled readers`);
    } finally {
      for (const r of readers) r.destroy();
    }
  });
});
