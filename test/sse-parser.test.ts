/**
 * The client's SSE parser (src/client/sse-parser.ts) on hand-made chunk sequences: events split
 * across reads (a multi-byte character included), several per read, every line-end style, comments,
 * multi-line data, and a stream cut mid-event.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LineDecoder, parseSseStream, SseDecoder, type SseMessage } from '../src/client/sse-parser.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);

/** A body delivering exactly these chunks, one per read. */
function streamOf(chunks: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  const queue = chunks.map((c) => (typeof c === 'string' ? bytes(c) : c));
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}

async function collect(chunks: Array<string | Uint8Array>): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of parseSseStream(streamOf(chunks))) out.push(m);
  return out;
}

const datas = (messages: SseMessage[]) => messages.map((m) => m.data);

/** Every way of cutting `text` into two chunks (by bytes, so multi-byte characters get torn too). */
function allSplits(text: string): Array<[Uint8Array, Uint8Array]> {
  const all = bytes(text);
  return Array.from({ length: all.length + 1 }, (_, i) => [all.slice(0, i), all.slice(i)]);
}

describe('parseSseStream', () => {
  test('an event split across reads', async () => {
    const messages = await collect(['id: 1\nda', 'ta: {"type":"tok', 'en"}\n', '\n']);
    assert.deepEqual(messages, [{ event: 'message', data: '{"type":"token"}', id: '1' }]);
  });

  test('a multi-byte UTF-8 character split between two chunks', async () => {
    const text = 'data: café 🌍 你好\n\n';
    const all = bytes(text);
    const emoji = all.indexOf(0xf0); // the 4-byte 🌍
    const messages = await collect([all.slice(0, emoji + 2), all.slice(emoji + 2)]);
    assert.deepEqual(datas(messages), ['café 🌍 你好']);
    // And at every possible cut.
    for (const [a, b] of allSplits(text)) assert.deepEqual(datas(await collect([a, b])), ['café 🌍 你好']);
  });

  test('one byte per read', async () => {
    const all = bytes('id: 7\ndata: ¡olé! 😀\n\ndata: two\n\n');
    const chunks = Array.from(all, (b) => Uint8Array.of(b));
    const messages = await collect(chunks);
    assert.deepEqual(messages, [
      { event: 'message', data: '¡olé! 😀', id: '7' },
      { event: 'message', data: 'two', id: '7' },
    ]);
  });

  test('several events in one read', async () => {
    const messages = await collect(['id: 1\ndata: a\n\nid: 2\ndata: b\n\nid: 3\ndata: c\n\n']);
    assert.deepEqual(messages, [
      { event: 'message', data: 'a', id: '1' },
      { event: 'message', data: 'b', id: '2' },
      { event: 'message', data: 'c', id: '3' },
    ]);
  });

  test('CRLF line ends', async () => {
    assert.deepEqual(datas(await collect(['data: a\r\n\r\ndata: b\r\n\r\n'])), ['a', 'b']);
  });

  test('lone CR line ends', async () => {
    assert.deepEqual(datas(await collect(['data: a\r\rdata: b\r\r'])), ['a', 'b']);
  });

  test('mixed line ends in one stream', async () => {
    assert.deepEqual(datas(await collect(['data: a\r\ndata: b\rdata: c\n\r\ndata: d\n\n'])), ['a\nb\nc', 'd']);
  });

  test('CR at the end of one chunk, LF at the start of the next: one line end, not two', async () => {
    // Were \r and \n counted separately, the blank line would split `a` and `b` into two events.
    assert.deepEqual(datas(await collect(['data: a\r', '\ndata: b\r', '\n\r', '\n'])), ['a\nb']);
    for (const [x, y] of allSplits('data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n')) {
      assert.deepEqual(datas(await collect([x, y])), ['a\nb', 'c']);
    }
  });

  test('a CR ending the stream still ends the line', async () => {
    assert.deepEqual(datas(await collect(['data: a\r', '\r'])), ['a']);
  });

  test('comments and heartbeats are ignored', async () => {
    const messages = await collect([': keep-alive\n\n', 'id: 1\n: in the middle\ndata: x\n\n', ':\n\n: keep-alive\n\n']);
    assert.deepEqual(messages, [{ event: 'message', data: 'x', id: '1' }]);
  });

  test('multi-line data is joined with \\n', async () => {
    assert.deepEqual(datas(await collect(['data: line one\ndata: line two\ndata:\ndata:  indented\n\n'])), ['line one\nline two\n\n indented']);
  });

  test('a stream cut mid-event dispatches nothing of it', async () => {
    assert.deepEqual(datas(await collect(['data: whole\n\n', 'id: 2\ndata: {"type":"en'])), ['whole']);
    assert.deepEqual(datas(await collect(['data: whole\n\n', 'data: complete line, no blank line\n'])), ['whole']);
    assert.deepEqual(await collect([]), []);
  });

  test('event types, retry and an id that carries over', async () => {
    const messages = await collect(['event: ping\ndata: 1\nid: a\nretry: 3000\n\n', 'data: 2\n\n', 'id\ndata: 3\n\nevent: x\n\n']);
    assert.deepEqual(messages, [
      { event: 'ping', data: '1', id: 'a', retry: 3000 },
      { event: 'message', data: '2', id: 'a' },
      { event: 'message', data: '3', id: '' },
    ]);
  });

  test('a leading BOM is skipped', async () => {
    assert.deepEqual(datas(await collect([Uint8Array.of(0xef, 0xbb), Uint8Array.of(0xbf, ...bytes('data: x\n\n'))])), ['x']);
  });

  test('an abort cancels the body and throws the signal reason', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes('data: first\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    const ac = new AbortController();
    const seen: string[] = [];
    await assert.rejects(
      (async () => {
        for await (const m of parseSseStream(body, ac.signal)) {
          seen.push(m.data);
          setTimeout(() => ac.abort(), 10); // while the next read waits
        }
      })(),
      (err: Error) => err.name === 'AbortError',
    );
    assert.deepEqual(seen, ['first']);
    assert.equal(cancelled, true);
  });

  test('breaking out of the loop cancels the body', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes('data: a\n\ndata: b\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const m of parseSseStream(body)) {
      assert.equal(m.data, 'a');
      break;
    }
    assert.equal(cancelled, true);
  });
});

describe('LineDecoder and SseDecoder', () => {
  test('LineDecoder keeps the partial line and holds a trailing CR', () => {
    const d = new LineDecoder();
    assert.deepEqual(d.decode(bytes('a\nb')), ['a']);
    assert.deepEqual(d.decode(bytes('c\r')), []);
    assert.deepEqual(d.decode(bytes('\nd\re')), ['bc', 'd']);
    assert.deepEqual(d.flush(), ['e']);
    assert.deepEqual(d.flush(), []);
  });

  test('SseDecoder: a field without a colon, one leading space stripped, unknown fields ignored', () => {
    const d = new SseDecoder();
    assert.equal(d.decode('data'), undefined);
    assert.equal(d.decode('data:  two spaces'), undefined);
    assert.equal(d.decode('foo: bar'), undefined);
    assert.deepEqual(d.decode(''), { event: 'message', data: '\n two spaces', id: undefined });
    assert.equal(d.decode(''), undefined, 'a blank line with no data dispatches nothing');
    d.decode('data: half');
    assert.deepEqual(d.flush(), { event: 'message', data: 'half', id: undefined }, 'flush hands back the cut-off event');
    assert.equal(d.flush(), undefined);
  });
});
