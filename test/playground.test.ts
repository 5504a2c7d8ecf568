/**
 * The browser playground at GET /, end to end: the real service with the fake model, driven by
 * Debian's headless Chromium through playwright-core. Streaming visible while it streams, tool
 * cards, Stop (the run is cancelled and the model sees the hang-up), a reload mid-reply picking the
 * reply up where it is, sessions across a reload, the session in the URL, paging past 100
 * sessions, inert HTML in replies, Markdown, and every failure in plain words. Plus the route itself (CSP, types, caching, 503
 * without a build) and the Markdown parser without a browser.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { createAgent } from '../src/agent/agent.js';
import { createChatModel } from '../src/agent/chat-model.js';
import { PLAYGROUND_CSP, playgroundRoutes } from '../src/http/routes/playground.js';
import { parseInline, parseMarkdown, safeHref } from '../src/playground/markdown.js';
import { KEY_A, KEY_B, startService, type TestService } from './support/service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'test-results');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let svc: TestService | undefined;
let context: BrowserContext | undefined;
let profile: string | undefined;
let page: Page;
/** Script errors and CSP violations seen by the page during the whole run. */
const pageProblems: string[] = [];

function service(): TestService {
  assert.ok(svc, 'the service did not start');
  return svc;
}

before(async () => {
  // The client compiles through esbuild here; no tsc needed.
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-playground.mjs')], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(built.status, 0, `build-playground failed:\n${built.stdout}\n${built.stderr}`);
  mkdirSync(RESULTS, { recursive: true });
  svc = await startService();
  profile = mkdtempSync(join(tmpdir(), 'agent-api-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  context.setDefaultTimeout(8000);
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) pageProblems.push(`console: ${msg.text()}`);
  });
});

after(async () => {
  await context?.close().catch(() => {});
  await svc?.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
});

// ---- Page helpers ----

const lastReply = (): Locator => page.locator('[data-testid=assistant-message]').last();

async function load(url = service().url): Promise<void> {
  await page.goto(`${url}/`);
  await page.locator('#app[data-ready=true]').waitFor();
}

async function enterKey(key: string): Promise<void> {
  if (await page.locator('#key-panel').isHidden()) await page.click('#key-button');
  await page.fill('#api-key', key);
  await page.press('#api-key', 'Enter');
}

async function sendMessage(text: string): Promise<void> {
  await page.fill('#message-input', text);
  await page.press('#message-input', 'Enter');
}

async function newChat(): Promise<void> {
  // On narrow screens the button lives in the drawer; clicking it programmatically works at any width.
  await page.locator('#new-session').dispatchEvent('click');
  await page.locator('#empty-state').waitFor();
}

/** Waits until the last reply is no longer streaming and the composer is back to Send. */
async function waitIdle(): Promise<void> {
  await page.waitForFunction(() => {
    const replies = document.querySelectorAll('[data-testid=assistant-message]');
    const last = replies[replies.length - 1];
    return (!last || last.getAttribute('data-state') !== 'streaming') && !document.getElementById('send')?.hidden;
  });
}

async function waitForReplyText(text: string): Promise<void> {
  await page.waitForFunction((want) => {
    const replies = document.querySelectorAll('[data-testid=assistant-message]');
    return replies[replies.length - 1]?.textContent?.includes(want) ?? false;
  }, text);
}

async function bannerText(): Promise<string> {
  const banner = page.locator('[data-testid=error-banner]');
  await banner.waitFor();
  return (await banner.textContent()) ?? '';
}

/** The run's status once it has ended (the service records it right after the last event). */
async function finalRunStatus(runId: string): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const res = await service().request(`/runs/${runId}`);
    assert.equal(res.status, 200);
    const { status } = (await res.json()) as { status: string };
    if (status !== 'running' && status !== 'queued') return status;
    assert.ok(Date.now() < deadline, `run ${runId} is still ${status}`);
    await sleep(50);
  }
}

/** A second tab of the same browser (same origin, so the same stored key), watched like the first. */
async function openTab(url: string): Promise<Page> {
  assert.ok(context);
  const tab = await context.newPage();
  tab.on('pageerror', (err) => pageProblems.push(`pageerror (tab): ${err.message}`));
  tab.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) pageProblems.push(`console (tab): ${msg.text()}`);
  });
  await tab.goto(url);
  await tab.locator('#app[data-ready=true]').waitFor();
  return tab;
}

const urlHash = (p: Page = page): string => new URL(p.url()).hash;

async function activeSessionId(): Promise<string> {
  const item = page.locator('[data-testid=session-item].active');
  await item.waitFor();
  const id = await item.getAttribute('data-session-id');
  assert.ok(id);
  return id;
}

// ---- Without a browser ----

describe('the playground route', () => {
  test('GET / and its assets: public, strict CSP, right types, no-cache, ETag revalidation, hidden from OpenAPI', async () => {
    const s = service();
    const index = await s.request('/', { key: null });
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(index.headers.get('content-security-policy'), PLAYGROUND_CSP);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    assert.match(html, /<script type="module" src="\/playground\/app\.js"><\/script>/);
    assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, 'nothing is loaded from outside');

    for (const [path, type] of [
      ['/playground/app.js', 'text/javascript; charset=utf-8'],
      ['/playground/styles.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await s.request(path, { key: null });
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('content-type'), type, path);
      assert.equal(res.headers.get('content-security-policy'), PLAYGROUND_CSP, path);
      assert.equal(res.headers.get('cache-control'), 'no-cache', path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
      const etag = res.headers.get('etag');
      assert.ok(etag && (await res.arrayBuffer()).byteLength > 0, path);
      const again = await s.request(path, { key: null, headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304, path);
    }

    const doc = (await (await s.request('/openapi.json', { key: null })).json()) as { paths: Record<string, unknown> };
    for (const path of Object.keys(doc.paths)) assert.ok(path !== '/' && !path.startsWith('/playground'), `${path} is in OpenAPI`);
  });

  test('without a build, GET / answers 503 saying to run `npm run build`, and the app still starts', async () => {
    const app = Fastify();
    try {
      await app.register(playgroundRoutes, { dir: join(tmpdir(), 'agent-api-no-such-playground') });
      const html = await app.inject({ url: '/', headers: { accept: 'text/html' } });
      assert.equal(html.statusCode, 503);
      assert.match(String(html.headers['content-type']), /text\/html/);
      assert.equal(html.headers['content-security-policy'], PLAYGROUND_CSP);
      assert.match(html.body, /npm run build/);
      const json = await app.inject({ url: '/playground/app.js' });
      assert.equal(json.statusCode, 503);
      const body = json.json<{ error: { code: string; message: string } }>();
      assert.equal(body.error.code, 'not_ready');
      assert.match(body.error.message, /npm run build/);
    } finally {
      await app.close();
    }
  });
});

describe('markdown parser (no browser)', () => {
  test('blocks: fences (unclosed too), headings, nested lists, ordered start, quotes, paragraphs', () => {
    assert.deepEqual(parseMarkdown('```ts\nconst a = 1 < 2;\n```'), [{ t: 'code', lang: 'ts', v: 'const a = 1 < 2;' }]);
    assert.deepEqual(parseMarkdown('```\npartial'), [{ t: 'code', lang: '', v: 'partial' }], 'a fence still streaming');
    assert.deepEqual(parseMarkdown('## Title'), [{ t: 'h', level: 2, c: [{ t: 'text', v: 'Title' }] }]);
    const list = parseMarkdown('- a\n  - b\n- c');
    assert.equal(list.length, 1);
    assert.deepEqual(list[0], {
      t: 'list',
      ordered: false,
      start: 1,
      items: [
        [
          { t: 'p', c: [{ t: 'text', v: 'a' }] },
          { t: 'list', ordered: false, start: 1, items: [[{ t: 'p', c: [{ t: 'text', v: 'b' }] }]] },
        ],
        [{ t: 'p', c: [{ t: 'text', v: 'c' }] }],
      ],
    });
    assert.deepEqual(parseMarkdown('3. x\n4. y')[0], {
      t: 'list',
      ordered: true,
      start: 3,
      items: [[{ t: 'p', c: [{ t: 'text', v: 'x' }] }], [{ t: 'p', c: [{ t: 'text', v: 'y' }] }]],
    });
    assert.equal(parseMarkdown('> quoted')[0]?.t, 'quote');
    assert.deepEqual(
      parseMarkdown('one\ntwo\n\nthree').map((b) => b.t),
      ['p', 'p'],
    );
  });

  test('inline: code, strong, em (not inside snake_case), links only for http(s), bare URLs', () => {
    assert.deepEqual(parseInline('`<b>` and **bold** and *em*'), [
      { t: 'code', v: '<b>' },
      { t: 'text', v: ' and ' },
      { t: 'strong', c: [{ t: 'text', v: 'bold' }] },
      { t: 'text', v: ' and ' },
      { t: 'em', c: [{ t: 'text', v: 'em' }] },
    ]);
    assert.deepEqual(parseInline('snake_case_name'), [{ t: 'text', v: 'snake_case_name' }]);
    assert.deepEqual(parseInline('**unclosed'), [{ t: 'text', v: '**unclosed' }]);
    assert.deepEqual(parseInline('[site](https://example.com/a)'), [{ t: 'link', href: 'https://example.com/a', c: [{ t: 'text', v: 'site' }] }]);
    assert.deepEqual(parseInline('[x](javascript:alert(1))'), [{ t: 'text', v: 'x' }], 'a javascript: link is just its text');
    assert.deepEqual(parseInline('[x](data:text/html,hi)'), [{ t: 'text', v: 'x' }]);
    assert.deepEqual(parseInline('see https://example.com/p.'), [
      { t: 'text', v: 'see ' },
      { t: 'link', href: 'https://example.com/p', c: [{ t: 'text', v: 'https://example.com/p' }] },
      { t: 'text', v: '.' },
    ]);
    assert.equal(safeHref('JAVASCRIPT:alert(1)'), undefined);
    assert.equal(safeHref('//evil.example'), undefined);
  });
});

// ---- In Chromium ----

describe('the playground in Chromium', () => {
  test('loads without a key, asks for one, and keeps it', async () => {
    await load();
    assert.ok(await page.locator('#key-panel').isVisible(), 'the key panel is open when no key is stored');
    await enterKey(KEY_A);
    await page.locator('#key-panel').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => localStorage.getItem('agent-api.playground.apiKey')), KEY_A);
    assert.ok(await page.locator('#empty-state').isVisible());
  });

  test('a reply is visible while it streams, before the model has finished', async () => {
    const s = service();
    const n = s.fake.requests.length;
    s.fake.enqueue({ text: 'Alpha Bravo Charlie Delta', chunks: ['Alpha ', 'Bravo ', 'Charlie ', 'Delta'], delayMs: 300 });
    await sendMessage('Stream me four words');
    await page.locator('[data-testid=user-message]', { hasText: 'Stream me four words' }).waitFor();

    let partial: string | undefined;
    const deadline = Date.now() + 6000;
    while (Date.now() < deadline) {
      const text = (await lastReply().textContent()) ?? '';
      if (text.includes('Alpha') && !text.includes('Delta')) {
        const request = s.fake.requests[n];
        assert.ok(request, 'the fake received the request');
        assert.equal(request.finished, false, 'the fake is still streaming');
        partial = text;
        break;
      }
      assert.ok(!text.includes('Delta'), 'the whole reply arrived at once');
      await sleep(20);
    }
    assert.ok(partial, 'never saw a partial reply');
    await waitIdle();
    assert.match((await lastReply().locator('[data-testid=reply]').textContent()) ?? '', /^Alpha Bravo Charlie Delta$/);
    assert.equal(await lastReply().getAttribute('data-state'), 'done');
    await page.locator('[data-testid=session-item]', { hasText: 'Stream me four words' }).waitFor();
  });

  test('a tool call shows as a card with name, arguments and result', async () => {
    const s = service();
    await newChat();
    s.fake.enqueue(
      { toolCalls: [{ name: 'calculator', arguments: { expression: '12.5 * 4 / sqrt(16)' } }], delayMs: 150 },
      { text: 'The answer is **12.5**.', delayMs: 40 },
    );
    await sendMessage('What is 12.5 * 4 / sqrt(16)?');
    const card = page.locator('[data-testid=tool-card]').last();
    await card.waitFor();
    assert.equal(await card.locator('[data-testid=tool-name]').textContent(), 'calculator');
    assert.match((await card.locator('[data-testid=tool-args]').textContent()) ?? '', /"expression": "12\.5 \* 4 \/ sqrt\(16\)"/);
    await page.locator('[data-testid=tool-card][data-state=done]').last().waitFor();
    assert.match((await card.locator('[data-testid=tool-result]').textContent()) ?? '', /"result": 12\.5/);
    await waitIdle();
    assert.equal(await lastReply().locator('[data-testid=reply] strong').textContent(), '12.5');
    assert.match((await lastReply().textContent()) ?? '', /The answer is 12\.5\./);
    await page.screenshot({ path: join(RESULTS, 'playground-tool-call.png') });
  });

  test('Stop cancels the run: the model sees the hang-up and the run ends cancelled', async () => {
    const s = service();
    await newChat();
    const n = s.fake.requests.length;
    const chunks = Array.from({ length: 20 }, (_, i) => `word${i} `);
    s.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 250 });
    await sendMessage('Tell me a long story');
    await waitForReplyText('word0');
    const runId = await lastReply().getAttribute('data-run-id');
    assert.match(runId ?? '', /^run_/);
    await page.click('#stop');
    await s.fake.waitForAbort(n);
    await page.locator('[data-testid=message-note][data-kind=stopped]').waitFor();
    await waitIdle();
    assert.equal(await lastReply().getAttribute('data-state'), 'stopped');
    assert.equal(await finalRunStatus(runId ?? ''), 'cancelled');
    await sleep(400);
    assert.ok(!((await lastReply().textContent()) ?? '').includes('word19'), 'nothing more arrived after Stop');
  });

  test('a reload during a reply picks it up where it is: it completes once, and the model was never stopped', async () => {
    const s = service();
    await newChat();
    const n = s.fake.requests.length;
    const chunks = Array.from({ length: 16 }, (_, i) => (i === 0 ? 'part0' : ` part${i}`));
    const full = chunks.join('');
    s.fake.enqueue({ text: full, chunks, delayMs: 150 });
    await sendMessage('Survive a reload');
    await waitForReplyText('part1');
    const id = await activeSessionId();
    assert.equal(urlHash(), `#/sessions/${id}`, 'the URL names the new session');
    assert.equal(s.fake.requests[n]?.finished, false, 'the reply is still being written');

    await page.reload();
    await page.locator('#app[data-ready=true]').waitFor();
    await page.locator('[data-testid=user-message]', { hasText: 'Survive a reload' }).waitFor();
    // The reply goes on live on the new page, with Stop available, and ends complete.
    await page.locator('[data-testid=assistant-message][data-state=streaming]').waitFor();
    assert.ok(await page.locator('#stop').isVisible(), 'Stop is offered while the picked-up reply runs');
    await waitIdle();
    assert.equal(await page.locator('[data-testid=user-message]').count(), 1, 'the question shows once');
    assert.equal(await page.locator('[data-testid=assistant-message]').count(), 1, 'the reply shows once');
    assert.equal(await lastReply().locator('[data-testid=reply]').textContent(), full);
    assert.equal(await lastReply().getAttribute('data-state'), 'done');
    assert.equal(await activeSessionId(), id);
    assert.equal(await page.locator('#chat-title').textContent(), 'Survive a reload');

    const request = s.fake.requests[n];
    assert.ok(request);
    assert.equal(request.aborted, false, 'the reload did not hang up on the model');
    assert.equal(request.finished, true);
    const runId = await lastReply().getAttribute('data-run-id');
    assert.equal(await finalRunStatus(runId ?? ''), 'completed');
    await page.screenshot({ path: join(RESULTS, 'playground-reload-resume.png') });

    // Stored, the session holds the question and the reply once each.
    const detail = (await (await s.request(`/sessions/${id}`)).json()) as {
      messages: Array<{ role: string; content: string | null }>;
      active_run_id: string | null;
    };
    assert.equal(detail.active_run_id, null);
    assert.deepEqual(
      detail.messages.map((m) => [m.role, m.content]),
      [
        ['user', 'Survive a reload'],
        ['assistant', full],
      ],
    );
  });

  test('a reload after a tool call: the stored part of the reply is not shown twice', async () => {
    const s = service();
    await newChat();
    const chunks = Array.from({ length: 12 }, (_, i) => (i === 0 ? 'after0' : ` after${i}`));
    s.fake.enqueue({ toolCalls: [{ name: 'calculator', arguments: { expression: '6 * 7' } }], delayMs: 50 }, { text: chunks.join(''), chunks, delayMs: 150 });
    await sendMessage('Calculate, then reload');
    await page.locator('[data-testid=tool-card][data-state=done]').waitFor();
    await waitForReplyText('after1');
    const id = await activeSessionId();
    // The tool call and its result are stored already; the text after them is not.
    const stored = (await (await s.request(`/sessions/${id}`)).json()) as { messages: Array<{ role: string }>; active_run_id: string | null };
    assert.deepEqual(
      stored.messages.map((m) => m.role),
      ['user', 'assistant', 'tool'],
    );
    assert.ok(stored.active_run_id);

    await page.reload();
    await page.locator('#app[data-ready=true]').waitFor();
    await page.locator('[data-testid=assistant-message][data-state=streaming]').waitFor();
    await waitIdle();
    assert.equal(await page.locator('[data-testid=user-message]').count(), 1);
    assert.equal(await page.locator('[data-testid=assistant-message]').count(), 1);
    assert.equal(await page.locator('[data-testid=tool-card]').count(), 1, 'the tool card shows once');
    assert.match((await page.locator('[data-testid=tool-result]').textContent()) ?? '', /"result": 42/);
    assert.equal(await lastReply().locator('[data-testid=reply]').textContent(), chunks.join(''));
  });

  test('Stop also cancels a reply picked up after a reload', async () => {
    const s = service();
    await newChat();
    const n = s.fake.requests.length;
    const chunks = Array.from({ length: 20 }, (_, i) => `bit${i} `);
    s.fake.enqueue({ text: chunks.join(''), chunks, delayMs: 250 });
    await sendMessage('Stop me after a reload');
    await waitForReplyText('bit0');
    await page.reload();
    await page.locator('#app[data-ready=true]').waitFor();
    await page.locator('[data-testid=assistant-message][data-state=streaming]').waitFor();
    await waitForReplyText('bit1');
    const runId = await lastReply().getAttribute('data-run-id');
    await page.keyboard.press('Escape');
    await s.fake.waitForAbort(n);
    await page.locator('[data-testid=message-note][data-kind=stopped]').waitFor();
    await waitIdle();
    assert.equal(await finalRunStatus(runId ?? ''), 'cancelled');
    assert.equal(await page.locator('[data-testid=user-message]').count(), 1);
  });

  test('after a reload the sessions are listed, and reopening one shows its history', async () => {
    await load();
    const item = page.locator('[data-testid=session-item]', { hasText: 'Stream me four words' });
    await item.waitFor();
    assert.ok((await page.locator('[data-testid=session-item]').count()) >= 3);
    await item.locator('.session-open').click();
    await page.locator('[data-testid=user-message]', { hasText: 'Stream me four words' }).waitFor();
    assert.equal(await page.locator('[data-testid=assistant-message]').count(), 1);
    assert.equal(await lastReply().locator('[data-testid=reply]').textContent(), 'Alpha Bravo Charlie Delta');
    assert.equal(await page.locator('#chat-title').textContent(), 'Stream me four words');

    // The tool call comes back as a card with its result; the stopped reply is marked interrupted.
    await page.locator('[data-testid=session-item]', { hasText: 'What is 12.5' }).locator('.session-open').click();
    await page.locator('[data-testid=tool-card][data-state=done] [data-testid=tool-result]', { hasText: '12.5' }).waitFor();
    assert.match((await lastReply().textContent()) ?? '', /The answer is 12\.5\./);
    await page.locator('[data-testid=session-item]', { hasText: 'Tell me a long story' }).locator('.session-open').click();
    await page.locator('[data-testid=message-note][data-kind=interrupted]').waitFor();
    assert.match((await lastReply().textContent()) ?? '', /word0/);

    // Continuing a reopened session sends its id.
    const id = await activeSessionId();
    const s = service();
    const n = s.fake.requests.length;
    s.fake.enqueue({ text: 'continued' });
    await sendMessage('go on');
    await waitIdle();
    assert.equal(await lastReply().locator('[data-testid=reply]').textContent(), 'continued');
    const messages = (s.fake.requests[n]?.body as { messages: Array<{ role: string; content: unknown }> }).messages;
    assert.ok(JSON.stringify(messages).includes('Tell me a long story'), 'the history went to the model');
    assert.equal(await activeSessionId(), id);
  });

  test('the URL names the open session: a link opens it in a fresh tab, New chat clears it, Back returns, an unknown id is explained', async () => {
    const s = service();
    await load();
    const item = page.locator('[data-testid=session-item]', { hasText: 'Stream me four words' });
    await item.locator('.session-open').click();
    await page.locator('[data-testid=user-message]', { hasText: 'Stream me four words' }).waitFor();
    const id = await item.getAttribute('data-session-id');
    assert.ok(id);
    assert.equal(urlHash(), `#/sessions/${id}`);
    const link = page.url();

    const tab = await openTab(link);
    try {
      await tab.locator('[data-testid=user-message]', { hasText: 'Stream me four words' }).waitFor();
      assert.equal(await tab.locator('[data-testid=assistant-message] [data-testid=reply]').textContent(), 'Alpha Bravo Charlie Delta');
      assert.equal(await tab.locator('#chat-title').textContent(), 'Stream me four words');
      await tab.locator(`[data-testid=session-item].active[data-session-id="${id}"]`).waitFor();
    } finally {
      await tab.close();
    }

    await newChat();
    assert.equal(urlHash(), '', 'New chat clears the URL');
    await page.goBack();
    await page.locator('[data-testid=user-message]', { hasText: 'Stream me four words' }).waitFor();
    assert.equal(urlHash(), `#/sessions/${id}`);

    const missing = await openTab(`${s.url}/#/sessions/no-such-session`);
    try {
      const banner = missing.locator('[data-testid=error-banner]');
      await banner.waitFor();
      assert.match((await banner.textContent()) ?? '', /does not exist .*no-such-session/);
      assert.equal(urlHash(missing), '', 'the bad link is cleared from the URL');
      assert.equal(await missing.locator('#chat-title').textContent(), 'New chat');
      assert.ok(await missing.locator('#empty-state').isVisible());
    } finally {
      await missing.close();
    }
  });

  test('HTML and <script> in a reply stay inert text', async () => {
    const s = service();
    await newChat();
    const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
    s.fake.enqueue({ text: `Here it is: ${payload} and **bold**\n\n- \`<b>code</b>\`\n- [click](javascript:window.__xss=3)` });
    await sendMessage('<img src=y onerror="window.__xss=4">show me html');
    await waitIdle();
    await sleep(300); // an injected image's onerror would have fired by now
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: unknown }).__xss), undefined);
    const reply = lastReply();
    const found = await reply.evaluate((el) => ({
      img: el.querySelectorAll('img').length,
      script: el.querySelectorAll('script').length,
      links: [...el.querySelectorAll('a')].map((a) => a.getAttribute('href')),
      strong: el.querySelector('strong')?.textContent,
      code: el.querySelector('li code')?.textContent,
    }));
    assert.deepEqual(found, { img: 0, script: 0, links: [], strong: 'bold', code: '<b>code</b>' });
    const text = (await reply.textContent()) ?? '';
    assert.ok(text.includes(payload), `the payload shows literally: ${text}`);
    const userText = page.locator('[data-testid=user-message]').last();
    assert.equal(await userText.textContent(), '<img src=y onerror="window.__xss=4">show me html', 'the user message shows literally');
    assert.equal(await page.evaluate(() => document.querySelectorAll('img').length), 0);
    assert.equal(await page.evaluate(() => document.scripts.length), 1, 'only the playground script');
  });

  test('Markdown renders: code blocks, lists, inline code, links', async () => {
    const s = service();
    await newChat();
    s.fake.enqueue({
      text: [
        '# Heading',
        '',
        'Some *emphasis* and `inline()` code, see [the docs](https://example.com/docs).',
        '',
        '```ts',
        'const ok = 1 < 2 && "<tag>";',
        '```',
        '',
        '- first',
        '- second',
        '',
        '1. one',
        '2. two',
      ].join('\n'),
    });
    await sendMessage('format something');
    await waitIdle();
    const md = lastReply().locator('[data-testid=reply]');
    assert.equal(await md.locator('pre > code.language-ts').textContent(), 'const ok = 1 < 2 && "<tag>";');
    assert.deepEqual(await md.locator('ul > li').allTextContents(), ['first', 'second']);
    assert.deepEqual(await md.locator('ol > li').allTextContents(), ['one', 'two']);
    assert.equal(await md.locator('h1').textContent(), 'Heading');
    assert.equal(await md.locator('em').textContent(), 'emphasis');
    assert.equal(await md.locator('p > code').textContent(), 'inline()');
    const link = md.locator('a');
    assert.equal(await link.getAttribute('href'), 'https://example.com/docs');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await link.textContent(), 'the docs');
  });

  test('a model failure mid-stream shows what arrived and the error in plain words', async () => {
    const s = service();
    await newChat();
    s.fake.enqueue({ resetAfter: 2, text: 'Partial answer that breaks', delayMs: 30 });
    await sendMessage('break please');
    const note = page.locator('[data-testid=message-note][data-kind=error]');
    await note.waitFor();
    assert.match((await note.textContent()) ?? '', /The model failed while answering/);
    await waitIdle();
    assert.match((await lastReply().locator('[data-testid=reply]').textContent()) ?? '', /^Partial/);
  });

  test('a busy session (409) is explained, and the message is kept to retry', async () => {
    const s = service();
    await newChat();
    s.fake.enqueue({ text: 'first answer' });
    await sendMessage('first');
    await waitIdle();
    const id = await activeSessionId();
    // Another client keeps the session answering.
    s.fake.enqueue({ text: 'slow slow slow', chunks: ['slow ', 'slow ', 'slow'], delayMs: 1000 });
    const other = new AbortController();
    const res = await s.stream({ message: 'hold it', session_id: id }, KEY_A, other.signal);
    assert.equal(res.status, 200);
    try {
      await sendMessage('second');
      assert.match(await bannerText(), /still answering an earlier message/);
      assert.equal(await page.inputValue('#message-input'), 'second');
      assert.equal(await page.locator('[data-testid=user-message]', { hasText: 'second' }).count(), 0);
    } finally {
      other.abort();
      await res.body?.cancel().catch(() => {});
    }
    await page.fill('#message-input', '');
  });

  test('network down is explained in plain words', async () => {
    assert.ok(context);
    await context.setOffline(true);
    try {
      await sendMessage('are you there?');
      assert.match(await bannerText(), /offline|Could not reach the service/);
    } finally {
      await context.setOffline(false);
    }
    await page.fill('#message-input', '');
    await page.click('#banner-close');
  });

  test('a wrong key (401) is explained in plain words', async () => {
    await enterKey('not-a-valid-key');
    assert.match(await bannerText(), /That API key was not accepted/);
    assert.equal(await page.getAttribute('#key-dot', 'data-state'), 'bad');
    assert.equal(await page.locator('[data-testid=session-item]').count(), 0);
    await page.click('#banner-close');
    await sendMessage('hello?');
    assert.match(await bannerText(), /That API key was not accepted/);
    await page.fill('#message-input', '');
    await enterKey(KEY_A);
    await page.locator('[data-testid=session-item]').first().waitFor();
    assert.ok(await page.locator('[data-testid=error-banner]').isHidden());
    assert.equal(await page.getAttribute('#key-dot', 'data-state'), 'ok');
  });

  test('no model configured (503): the service says how to configure one', async () => {
    const bare = await startService({ noModel: true, fake: service().fake });
    try {
      await load(bare.url); // another origin: its own localStorage, so the key is asked for again
      await enterKey(KEY_A);
      await sendMessage('hello');
      const text = await bannerText();
      assert.match(text, /no model/i);
      assert.match(text, /LLM_BASE_URL/);
    } finally {
      await bare.close();
    }
  });

  test('several agents: a select picks the agent of a new chat (the default preselected), a stored session shows its own', async () => {
    await load();
    assert.ok(await page.locator('#agent-select').isHidden(), 'one agent: no choice to offer');
    const fake = service().fake;
    const agent = (model: string, instructions: string) =>
      createAgent({ model: createChatModel({ baseURL: fake.url, model }), instructions, maxRetries: 0, tools: {} });
    const multi = await startService({
      fake,
      agents: { math: agent('math-model', 'Math.'), support: agent('support-model', 'Support.') },
      defaultAgent: 'support',
    });
    try {
      await load(multi.url);
      await enterKey(KEY_A);
      const select = page.locator('#agent-select');
      await select.waitFor();
      await page.waitForFunction(() => document.querySelectorAll('#agent-select option').length === 2);
      assert.deepEqual(await select.locator('option').allTextContents(), ['support', 'math'], 'the default first');
      assert.equal(await select.inputValue(), 'support');

      await select.selectOption('math');
      fake.enqueue({ text: 'math answers' });
      await sendMessage('2+2?');
      await waitForReplyText('math answers');
      await waitIdle();
      assert.equal(fake.requests.at(-1)?.body.model, 'math-model');
      assert.ok(await select.isDisabled(), 'a session keeps its agent');
      assert.equal(await select.inputValue(), 'math');
      const mathSession = await activeSessionId();

      await newChat();
      assert.ok(await select.isEnabled());
      assert.equal(await select.inputValue(), 'support', 'a new chat starts from the default');
      fake.enqueue({ text: 'support answers' });
      await sendMessage('help');
      await waitForReplyText('support answers');
      await waitIdle();
      assert.equal(fake.requests.at(-1)?.body.model, 'support-model');

      // Reopened, the math session shows its agent, and a follow-up goes to it.
      await page.locator(`[data-testid=session-item][data-session-id="${mathSession}"]`).locator('.session-open').dispatchEvent('click');
      await page.waitForFunction(() => (document.getElementById('agent-select') as HTMLSelectElement).value === 'math');
      assert.ok(await select.isDisabled());
      fake.enqueue({ text: 'still math' });
      await sendMessage('and 3+3?');
      await waitForReplyText('still math');
      await waitIdle();
      assert.equal(fake.requests.at(-1)?.body.model, 'math-model');
    } finally {
      await multi.close();
    }
  });

  test('deleting a session takes two clicks and removes it', async () => {
    await load();
    const item = page.locator('[data-testid=session-item]', { hasText: 'format something' });
    await item.waitFor();
    await item.locator('.session-open').click();
    await page.locator('[data-testid=user-message]', { hasText: 'format something' }).waitFor();
    const del = item.locator('[data-testid=delete-session]');
    await del.click();
    assert.equal(await del.textContent(), 'Delete?');
    await del.click();
    await item.waitFor({ state: 'detached' });
    assert.ok(await page.locator('#empty-state').isVisible(), 'the open session was deleted: a new chat starts');
    const left = await service().request('/sessions');
    const { sessions } = (await left.json()) as { sessions: Array<{ title: string }> };
    assert.ok(!sessions.some((x) => x.title === 'format something'));
  });

  test('phone width: the sidebar becomes a drawer, the conversation fits', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await load();
      const sidebar = page.locator('#sidebar');
      const hiddenBox = await sidebar.boundingBox();
      assert.ok(hiddenBox && hiddenBox.x + hiddenBox.width <= 0, 'the sidebar is off screen');
      await page.click('#sidebar-toggle');
      await page.waitForFunction(() => document.getElementById('sidebar')!.getBoundingClientRect().x >= 0);
      await page.locator('[data-testid=session-item]', { hasText: 'What is 12.5' }).locator('.session-open').click();
      await page.locator('[data-testid=tool-card]').first().waitFor();
      await page.waitForFunction(() => document.getElementById('sidebar')!.getBoundingClientRect().right <= 0);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px)`);
      await page.screenshot({ path: join(RESULTS, 'playground-phone.png') });
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  test('with more than 100 sessions, "Load more" reaches the oldest', async () => {
    const s = service();
    // Another key, so the other tests' sessions are not in the way. The oldest first, then the rest.
    const create = async (message: string): Promise<void> => {
      const res = await s.chat({ message }, KEY_B);
      assert.equal(res.status, 200, await res.clone().text());
      await res.arrayBuffer();
    };
    await create('The very oldest session');
    for (let batch = 0; batch < 4; batch++) {
      await Promise.all(Array.from({ length: 26 }, (_, i) => create(`Filler session ${batch * 26 + i}`)));
    }
    await load();
    await enterKey(KEY_B);
    const items = page.locator('[data-testid=session-item]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=session-item]').length === 100);
    const oldest = page.locator('[data-testid=session-item]', { hasText: 'The very oldest session' });
    assert.equal(await oldest.count(), 0, 'the first page holds the newest 100');
    const more = page.locator('[data-testid=load-more-sessions]');
    await more.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(RESULTS, 'playground-load-more.png') });
    await more.click();
    await oldest.waitFor();
    assert.equal(await items.count(), 105);
    assert.equal(await page.locator('[data-testid=load-more-sessions]').count(), 0, 'no more pages');
    await oldest.locator('.session-open').click();
    await page.locator('[data-testid=user-message]', { hasText: 'The very oldest session' }).waitFor();
    assert.equal(await page.locator('#chat-title').textContent(), 'The very oldest session');
  });

  test('no script errors or CSP violations on the page', () => {
    assert.deepEqual(pageProblems, []);
  });
});
