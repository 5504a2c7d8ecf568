/**
 * The one wire schema: the event union in src/core/events.ts is what the OpenAPI document shows
 * for /chat/stream, and what every event the service writes must satisfy (checked here for a turn
 * with tool steps and for a failed turn, through the real stream).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StreamEvent } from '../src/core/events.js';
import { ChatReply, SessionDetail } from '../src/http/schemas.js';
import { parseSse, startService, type TestService } from './support/service.js';

let svc: TestService;
before(async () => {
  svc = await startService();
});
after(() => svc.close());

type Schema = { oneOf?: Schema[]; anyOf?: Schema[]; properties?: Record<string, { const?: unknown; enum?: unknown[] }> };

describe('the one wire schema', () => {
  test('/openapi.json documents the event union as the 200 of /chat/stream (text/event-stream)', async () => {
    const doc = (await (await svc.request('/openapi.json', { key: null })).json()) as {
      paths: Record<string, { post: { responses: Record<string, { content: Record<string, { schema: Schema }> }> } }>;
    };
    const ok = doc.paths['/chat/stream']?.post.responses['200'];
    assert.ok(ok, '/chat/stream has a 200 response');
    const schema = ok.content['text/event-stream']?.schema;
    assert.ok(schema, 'as text/event-stream');
    const variants = schema.oneOf ?? schema.anyOf ?? [];
    const types = variants.map((v) => v.properties?.['type']?.const ?? v.properties?.['type']?.enum?.[0]);
    assert.deepEqual(types, ['start', 'step_start', 'token', 'tool_call_delta', 'tool_call', 'tool_result', 'step_finish', 'error', 'end']);
  });

  test('every event of a turn with tool steps, and of a failed turn, satisfies the schema', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_w1', name: 'calculator', arguments: { expression: '6*7' } }] }, { text: 'It is 42.' });
    const ok = parseSse(await (await svc.stream({ message: 'What is 6*7?' })).text());
    svc.fake.enqueue({ error: { status: 500 } });
    const failed = parseSse(await (await svc.stream({ message: 'fail please' })).text());
    const all = [...ok.events, ...failed.events];
    const kinds = ok.events.map((e) => e.data.type).filter((t, i, a) => t !== a[i - 1]); // tokens come in several pieces
    assert.deepEqual(kinds, ['start', 'step_start', 'tool_call_delta', 'tool_call', 'step_finish', 'tool_result', 'step_start', 'token', 'step_finish', 'end']);
    assert.deepEqual(
      failed.events.map((e) => e.data.type),
      ['start', 'step_start', 'error', 'end'],
    );
    for (const { data } of all) assert.deepEqual(StreamEvent.parse(data), data, JSON.stringify(data));
  });

  test('/chat replies and session details satisfy the schemas the client types come from', async () => {
    svc.fake.enqueue({ toolCalls: [{ id: 'call_w2', name: 'calculator', arguments: { expression: '1+1' } }] }, { text: 'Two.' });
    const reply: unknown = await (await svc.chat({ message: 'What is 1+1?', session_id: 'wire-1' })).json();
    assert.deepEqual(ChatReply.parse(reply), reply);
    const detail: unknown = await (await svc.request('/sessions/wire-1')).json();
    assert.deepEqual(SessionDetail.parse(detail), detail);
  });
});
