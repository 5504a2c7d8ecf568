/**
 * The provider packages' transport (src/agent/node-fetch.ts): what they rely on from fetch, over
 * node:http. The whole path (provider, SSE, retries) is covered with fake-llm.ts by the service tests.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { nodeFetch } from '../src/agent/node-fetch.js';

describe('nodeFetch', () => {
  let server: http.Server;
  let base: string;
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.url === '/echo') {
          res.writeHead(201, { 'content-type': 'application/json', 'x-seen-length': req.headers['content-length'] ?? '' });
          res.end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization }));
        } else if (req.url === '/drop') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: 1\n\n');
          setTimeout(() => res.socket?.destroy(), 20);
        } else if (req.url === '/hold') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: 1\n\n');
        } else if (req.url === '/moved') {
          res.writeHead(307, { location: '/echo' });
          res.end();
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('sends method, headers and a sized string body; answers status, headers and body', async () => {
    const res = await nodeFetch(`${base}/echo`, { method: 'POST', headers: { authorization: 'Bearer k', 'x-none': undefined } as never, body: '{"a":"é"}' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('x-seen-length'), String(Buffer.byteLength('{"a":"é"}')));
    assert.deepEqual(await res.json(), { method: 'POST', body: '{"a":"é"}', auth: 'Bearer k' });
  });

  test('follows a redirect (through the global fetch)', async () => {
    const res = await nodeFetch(`${base}/moved`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 201);
  });

  test('a refused connection is fetch’s TypeError("fetch failed") with the cause', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise((r) => closed.close(r));
    await assert.rejects(nodeFetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' }), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.equal(err.message, 'fetch failed');
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
      return true;
    });
  });

  test('a connection dropped mid-body errors the body', async () => {
    const res = await nodeFetch(`${base}/drop`, { method: 'POST', body: '{}' });
    await assert.rejects(res.text(), /terminated/);
  });

  test('an abort rejects with the signal’s reason, before and after the answer', async () => {
    const reason = new Error('stop');
    const early = new AbortController();
    early.abort(reason);
    await assert.rejects(nodeFetch(`${base}/hold`, { method: 'POST', body: '{}', signal: early.signal }), (err) => err === reason);
    const late = new AbortController();
    const res = await nodeFetch(`${base}/hold`, { method: 'POST', body: '{}', signal: late.signal });
    const reading = res.text();
    late.abort(reason);
    await assert.rejects(reading, (err) => err === reason);
  });
});
