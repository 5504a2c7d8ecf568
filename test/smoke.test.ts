import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { parseSse, startService, type TestService } from './support/service.js';

let svc: TestService;
before(async () => {
  svc = await startService();
});
after(() => svc.close());

test('chat round trip through the fake model', async () => {
  svc.fake.enqueue({ text: 'Hi there' });
  const res = await svc.chat({ message: 'hello' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { reply: string };
  assert.equal(body.reply, 'Hi there');
});

test('stream', async () => {
  svc.fake.enqueue({ text: 'streamed reply' });
  const res = await svc.stream({ message: 'hello' });
  const { events } = parseSse(await res.text());
  assert.deepEqual(events.map((e) => e.data.type), ['start', 'token', 'token', 'token', 'token', 'end']);
});
