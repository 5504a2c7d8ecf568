/**
 * A fake OpenAI Chat Completions server for tests. Real HTTP on 127.0.0.1 so
 * the code under test exercises its actual HTTP client, SSE parsing, timeouts
 * and abort handling — no test ever talks to a real provider.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeReply =
  | {
      text: string;
      chunks?: string[];
      delayMs?: number;
      finishReason?: 'stop' | 'length' | 'content_filter';
      usage?: { prompt_tokens: number; completion_tokens: number };
    }
  | { toolCalls: Array<{ id?: string; name: string; arguments: unknown }>; text?: string; delayMs?: number }
  | { error: { status: number; body?: unknown; headers?: Record<string, string> }; delayMs?: number }
  | { hang: true }
  | { resetAfter: number; text: string; delayMs?: number };

/** A Chat Completions message as an OpenAI-compatible client sends it. */
export interface WireMessage {
  role: string;
  content: string | null;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
}

/** A Chat Completions request body as an OpenAI-compatible client sends it: the fields tests read are typed, others pass through. */
export interface ChatCompletionRequest {
  model?: string;
  messages: WireMessage[];
  tools?: Array<{ type: 'function'; function: { name: string; description?: string; parameters?: unknown } }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [field: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /**
   * The parsed JSON body, not validated: the fake trusts its clients to send the shape above.
   * A body that is not a JSON object is recorded as `{ messages: [] }` (and answered 400); see `rawBody`.
   */
  body: ChatCompletionRequest;
  /** The body as received. */
  rawBody: string;
  /** True once the client hung up before we finished the response. */
  aborted: boolean;
  /** True once we fully finished writing the response. */
  finished: boolean;
}

export interface FakeLlm {
  /** Base URL including /v1, e.g. http://127.0.0.1:41234/v1 */
  url: string;
  requests: RecordedRequest[];
  enqueue(...replies: FakeReply[]): void;
  setDefault(reply: FakeReply): void;
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  waitForAbort(index?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

type ToolCallSpec = Extract<FakeReply, { toolCalls: unknown }>['toolCalls'][number];
type Usage = { prompt_tokens: number; completion_tokens: number; total_tokens: number };

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_PROMPT_TOKENS = 10;
const DEFAULT_ERROR_BODY = { error: { message: 'fake failure', type: 'server_error', code: null } };
const MODELS_BODY = {
  object: 'list',
  data: [{ id: 'fake-model', object: 'model', created: 0, owned_by: 'fake' }],
};
const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
};

/** Splits on code points so multi-unit characters (emoji) never get torn apart. */
function splitText(text: string, size = 4): string[] {
  const chars = Array.from(text);
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces;
}

function contentPieces(reply: { text: string; chunks?: string[] }): string[] {
  return reply.chunks ?? splitText(reply.text);
}

function usageOf(override: { prompt_tokens: number; completion_tokens: number } | undefined, contentChunks: number): Usage {
  const prompt_tokens = override?.prompt_tokens ?? DEFAULT_PROMPT_TOKENS;
  const completion_tokens = override?.completion_tokens ?? contentChunks;
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}

/** Resolves false if aborted, so callers can bail out without writing anything more. */
function sleep(ms: number | undefined, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (!ms) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Catch malformed replies at enqueue time, where the stack trace points at the test. */
function validate(reply: FakeReply): FakeReply {
  if ('text' in reply && 'chunks' in reply && reply.chunks && reply.chunks.join('') !== reply.text) {
    throw new Error(`fake-llm: chunks ${JSON.stringify(reply.chunks)} do not join to text ${JSON.stringify(reply.text)}`);
  }
  return reply;
}

function toolArguments(call: ToolCallSpec): string {
  return typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {});
}

/** `port` 0 (the default) picks a free one. */
export async function startFakeLlm({ port: wantedPort = 0 }: { port?: number } = {}): Promise<FakeLlm> {
  const requests: RecordedRequest[] = [];
  const queue: FakeReply[] = [];
  let defaultReply: FakeReply = { text: 'ok' };
  let completionCounter = 0;
  let toolCallCounter = 0;

  // Waiters re-check their condition whenever request state changes, instead of polling.
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const check of [...waiters]) check();
  };
  const waitUntil = (cond: () => boolean, timeoutMs: number, what: () => string): Promise<void> => {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond()) return;
        cleanup();
        resolve();
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake-llm: timed out after ${timeoutMs}ms waiting for ${what()}`));
      }, timeoutMs);
      waiters.add(check);
    });
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');

    if (req.method === 'GET' && url.pathname === '/v1/models') return sendJson(res, 200, MODELS_BODY);
    if (req.method !== 'POST' || url.pathname !== '/v1/chat/completions') {
      req.resume();
      return sendJson(res, 404, {
        error: { message: `fake-llm: no route for ${req.method} ${url.pathname}`, type: 'not_found', code: null },
      });
    }

    const ac = new AbortController();
    // Set once the body is read; the close handler may run before that.
    const state: { rec?: RecordedRequest } = {};
    // A reset we cause ourselves is not a client hang-up; keep `aborted` meaning what it says.
    let selfDestroyed = false;
    // Without this, a write racing a client hang-up would surface as an unhandled 'error'.
    res.on('error', () => {});
    res.on('close', () => {
      const { rec } = state;
      if (res.writableFinished || rec?.finished) return;
      ac.abort();
      if (rec && !selfDestroyed) {
        rec.aborted = true;
        notify();
      }
    });

    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      return; // client went away mid-upload; nothing to answer
    }

    let body: ChatCompletionRequest;
    let parseError: string | undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      body = parsed as ChatCompletionRequest;
    } catch (err) {
      body = { messages: [] };
      parseError = (err as Error).message;
    }

    const record: RecordedRequest = {
      method: req.method,
      path: url.pathname,
      headers: req.headers,
      body,
      rawBody: raw,
      aborted: ac.signal.aborted,
      finished: false,
    };
    state.rec = record;
    requests.push(record);
    notify();
    if (ac.signal.aborted) return;

    const markFinished = (): void => {
      record.finished = true;
      notify();
    };

    if (parseError !== undefined) {
      sendJson(res, 400, { error: { message: `fake-llm: invalid JSON body: ${parseError}`, type: 'invalid_request_error', code: null } });
      markFinished();
      return;
    }

    const reply = queue.shift() ?? defaultReply;
    const signal = ac.signal;
    const id = `chatcmpl-fake-${++completionCounter}`;
    const created = Math.floor(Date.now() / 1000);
    const model = body.model ?? 'fake-model';
    const stream = body.stream === true;
    const includeUsage = body.stream_options?.include_usage === true;

    // Skipping writes once the client is gone is what guarantees nothing is written after an abort.
    const live = (): boolean => !signal.aborted && !res.destroyed;
    const write = (data: string, cb?: () => void): void => {
      if (live()) res.write(data, cb);
    };
    const sse = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`;
    const chunk = (delta: object, finishReason: string | null = null): string =>
      sse({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finishReason }] });
    const finishStream = (finishReason: string, usage: Usage): void => {
      write(chunk({}, finishReason));
      if (includeUsage) write(sse({ id, object: 'chat.completion.chunk', created, model, choices: [], usage }));
      write('data: [DONE]\n\n');
      if (!live()) return;
      res.end();
      markFinished();
    };
    const completion = (message: object, finishReason: string, usage: Usage): void => {
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', ...message }, logprobs: null, finish_reason: finishReason }],
        usage,
      });
      markFinished();
    };

    if ('hang' in reply) return; // the close handler records the eventual hang-up

    if ('error' in reply) {
      if (!(await sleep(reply.delayMs, signal))) return;
      sendJson(res, reply.error.status, reply.error.body ?? DEFAULT_ERROR_BODY, reply.error.headers);
      markFinished();
      return;
    }

    if ('resetAfter' in reply) {
      const pieces = splitText(reply.text).slice(0, reply.resetAfter);
      // Destroy only once the last write reached the kernel, otherwise the partial content is lost.
      const reset = (): void => {
        selfDestroyed = true;
        res.destroy();
      };
      if (!stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        if (!(await sleep(reply.delayMs, signal))) return;
        write(`{"id":"${id}","object":"chat.completion","choices":[`, reset);
        return;
      }
      res.writeHead(200, SSE_HEADERS);
      write(chunk({ role: 'assistant', content: '' }), pieces.length === 0 ? reset : undefined);
      for (const [i, piece] of pieces.entries()) {
        if (!(await sleep(reply.delayMs, signal))) return;
        write(chunk({ content: piece }), i === pieces.length - 1 ? reset : undefined);
      }
      return;
    }

    if ('toolCalls' in reply) {
      const calls = reply.toolCalls.map((call) => ({
        id: call.id ?? `call_${++toolCallCounter}`,
        name: call.name,
        args: toolArguments(call),
      }));
      const pieces = reply.text === undefined ? [] : splitText(reply.text);
      const usage = usageOf(undefined, pieces.length);

      if (!stream) {
        if (!(await sleep(reply.delayMs, signal))) return;
        const tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } }));
        completion({ content: reply.text ?? null, tool_calls }, 'tool_calls', usage);
        return;
      }

      res.writeHead(200, SSE_HEADERS);
      write(chunk({ role: 'assistant', content: '' }));
      for (const piece of pieces) {
        if (!(await sleep(reply.delayMs, signal))) return;
        write(chunk({ content: piece }));
      }
      // Two pieces per call so clients' incremental argument accumulation is actually exercised.
      for (const [index, c] of calls.entries()) {
        if (!(await sleep(reply.delayMs, signal))) return;
        const half = Math.ceil(c.args.length / 2);
        write(
          chunk({
            tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.name, arguments: c.args.slice(0, half) } }],
          }),
        );
        const rest = c.args.slice(half);
        if (rest) write(chunk({ tool_calls: [{ index, function: { arguments: rest } }] }));
      }
      finishStream('tool_calls', usage);
      return;
    }

    const pieces = contentPieces(reply);
    const finishReason = reply.finishReason ?? 'stop';
    const usage = usageOf(reply.usage, pieces.length);

    if (!stream) {
      if (!(await sleep(reply.delayMs, signal))) return;
      completion({ content: reply.text }, finishReason, usage);
      return;
    }

    res.writeHead(200, SSE_HEADERS);
    write(chunk({ role: 'assistant', content: '' }));
    for (const piece of pieces) {
      if (!(await sleep(reply.delayMs, signal))) return;
      write(chunk({ content: piece }));
    }
    finishStream(finishReason, usage);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Surface fake bugs to the client loudly rather than leaving it hanging.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, 500, { error: { message: `fake-llm internal error: ${String(err)}`, type: 'fake_bug', code: null } });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(wantedPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue(...replies) {
      queue.push(...replies.map(validate));
    },
    setDefault(reply) {
      defaultReply = validate(reply);
    },
    waitForRequests(n, timeoutMs = DEFAULT_TIMEOUT_MS) {
      return waitUntil(
        () => requests.length >= n,
        timeoutMs,
        () => `${n} request(s), got ${requests.length}`,
      );
    },
    waitForAbort(index, timeoutMs = DEFAULT_TIMEOUT_MS) {
      // Default to the latest request, or the one about to arrive if there is none yet.
      const i = index ?? Math.max(requests.length - 1, 0);
      return waitUntil(
        () => requests[i]?.aborted === true,
        timeoutMs,
        () => `request #${i} to abort (${requests[i] ? 'not aborted' : 'not received'})`,
      );
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // server.close alone waits for hung/keep-alive sockets forever.
        server.closeAllConnections();
      });
    },
  };
}
