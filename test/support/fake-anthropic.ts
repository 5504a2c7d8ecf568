/**
 * A fake Anthropic Messages API for tests: `POST /v1/messages` on 127.0.0.1, streamed as the real
 * API streams (message_start, content_block_start/delta/stop for text and tool_use, message_delta
 * with the stop reason and usage, message_stop), errors in Anthropic's shape
 * (`{type: 'error', error: {type, message}}`). Like fake-llm.ts it records every request and
 * whether the client hung up.
 *
 * It also refuses what the real API refuses (no x-api-key or anthropic-version, no model or
 * max_tokens, a `system` role inside messages, a tool_result that answers no tool_use of the
 * message before it, a tool_use left unanswered): a client that gets the wire wrong fails its test
 * with a 400 instead of passing against a lenient fake.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type AnthropicReply =
  | {
      text: string;
      chunks?: string[];
      stopReason?: 'end_turn' | 'max_tokens' | 'stop_sequence' | 'refusal';
      usage?: { input_tokens: number; output_tokens: number };
      delayMs?: number;
    }
  | {
      toolUses: Array<{ id?: string; name: string; input: unknown }>;
      /** Text before the calls, in a block of its own. */
      text?: string;
      usage?: { input_tokens: number; output_tokens: number };
      delayMs?: number;
    }
  /** An HTTP error; `type` defaults to the one Anthropic uses for the status (429 rate_limit_error, 529 overloaded_error, …). */
  | { error: { status: number; type?: string; message?: string; headers?: Record<string, string> }; delayMs?: number }
  /**
   * A 200 stream that fails with an `error` event: the first event of the stream without `text`
   * (as an overloaded API does), after message_start and `text` otherwise.
   */
  | { streamError: { type: string; message?: string }; text?: string; delayMs?: number }
  /** Never answers; the request stays open until the client hangs up. */
  | { hang: true };

/** A content block as clients send it; the fields tests read are typed, others pass through. */
export interface AnthropicContentBlock {
  type: string;
  text?: string;
  id?: string;
  name?: string;
  input?: unknown;
  tool_use_id?: string;
  content?: string | Array<{ type: string; text?: string }>;
  is_error?: boolean;
  [field: string]: unknown;
}

export interface AnthropicMessage {
  role: string;
  content: string | AnthropicContentBlock[];
}

/** A Messages request body: the fields tests read are typed, others pass through. */
export interface MessagesRequest {
  model?: string;
  max_tokens?: number;
  system?: string | Array<{ type: string; text: string; [field: string]: unknown }>;
  messages: AnthropicMessage[];
  tools?: Array<{ name: string; description?: string; input_schema?: unknown; [field: string]: unknown }>;
  stream?: boolean;
  [field: string]: unknown;
}

export interface RecordedAnthropicRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body, not validated here (the fake's checks answer 400 instead); `{ messages: [] }` when it is no JSON object. */
  body: MessagesRequest;
  rawBody: string;
  /** Why the fake refused the request as the real API would, if it did. */
  refused?: string;
  /** True once the client hung up before we finished the response. */
  aborted: boolean;
  /** True once we fully finished writing the response. */
  finished: boolean;
}

export interface FakeAnthropic {
  /** Base URL including /v1, e.g. http://127.0.0.1:41234/v1 */
  url: string;
  requests: RecordedAnthropicRequest[];
  enqueue(...replies: AnthropicReply[]): void;
  setDefault(reply: AnthropicReply): void;
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  waitForAbort(index?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_INPUT_TOKENS = 10;
/** The error type Anthropic answers each status with. */
const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };

/** Splits on code points so multi-unit characters (emoji) never get torn apart. */
function splitText(text: string, size = 4): string[] {
  const chars = Array.from(text);
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; i += size) pieces.push(chars.slice(i, i + size).join(''));
  return pieces;
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

function errorBody(type: string, message: string) {
  return { type: 'error', error: { type, message } };
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function validate(reply: AnthropicReply): AnthropicReply {
  if ('chunks' in reply && reply.chunks && reply.chunks.join('') !== reply.text) {
    throw new Error(`fake-anthropic: chunks ${JSON.stringify(reply.chunks)} do not join to text ${JSON.stringify(reply.text)}`);
  }
  return reply;
}

const blocksOf = (m: AnthropicMessage): AnthropicContentBlock[] => (Array.isArray(m.content) ? m.content : []);

/** What the real API answers 400 for, in its words where they are known; undefined when the request is acceptable. */
function invalidRequest(body: MessagesRequest): string | undefined {
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  if (!Number.isInteger(body.max_tokens) || (body.max_tokens ?? 0) < 1) return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'messages: at least one message is required';
  if (body.system !== undefined && typeof body.system !== 'string' && !(Array.isArray(body.system) && body.system.every((b) => b.type === 'text'))) {
    return 'system: Input should be a valid string or a list of text blocks';
  }
  for (const [i, tool] of (body.tools ?? []).entries()) {
    if (!/^[a-zA-Z0-9_-]{1,128}$/.test(tool.name)) return `tools.${i}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`;
    const schema = tool.input_schema as { type?: unknown } | undefined;
    if (schema?.type !== 'object') return `tools.${i}.input_schema.type: Input should be 'object'`;
  }
  for (const [i, m] of body.messages.entries()) {
    if (m.role !== 'user' && m.role !== 'assistant')
      return `messages.${i}.role: Input should be 'user' or 'assistant' (system instructions go in the top-level system parameter)`;
    if (typeof m.content !== 'string' && !Array.isArray(m.content)) return `messages.${i}.content: Input should be a valid string or list`;
    const results = blocksOf(m).filter((b) => b.type === 'tool_result');
    if (results.length > 0) {
      const previous = body.messages[i - 1];
      const uses = new Set(previous?.role === 'assistant' ? blocksOf(previous).flatMap((b) => (b.type === 'tool_use' ? [b.id] : [])) : []);
      const stray = results.find((r) => !uses.has(r.tool_use_id));
      if (stray) {
        return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(stray.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      }
    }
    if (m.role === 'assistant' && i < body.messages.length - 1) {
      const next = body.messages[i + 1];
      const answered = new Set(next ? blocksOf(next).flatMap((b) => (b.type === 'tool_result' ? [b.tool_use_id] : [])) : []);
      const unanswered = blocksOf(m).filter((b) => b.type === 'tool_use' && !answered.has(b.id));
      if (unanswered.length > 0) {
        return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${unanswered.map((b) => String(b.id)).join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
      }
    }
  }
  return undefined;
}

/** `apiKey`: the only key accepted (default: any). `port` 0 (the default) picks a free one. */
export async function startFakeAnthropic({ apiKey, port: wantedPort = 0 }: { apiKey?: string; port?: number } = {}): Promise<FakeAnthropic> {
  const requests: RecordedAnthropicRequest[] = [];
  const queue: AnthropicReply[] = [];
  let defaultReply: AnthropicReply = { text: 'ok' };
  let messageCounter = 0;
  let toolUseCounter = 0;

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
        reject(new Error(`fake-anthropic: timed out after ${timeoutMs}ms waiting for ${what()}`));
      }, timeoutMs);
      waiters.add(check);
    });
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const requestId = `req_fake_${requests.length + 1}`;
    const sendJson = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      const payload = JSON.stringify(body);
      res.writeHead(status, { ...headers, 'request-id': requestId, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.end(payload);
    };

    if (req.method !== 'POST' || url.pathname !== '/v1/messages') {
      req.resume();
      return sendJson(404, errorBody('not_found_error', `fake-anthropic: no route for ${req.method} ${url.pathname}`));
    }

    const ac = new AbortController();
    // Set once the body is read; the close handler may run before that.
    const state: { rec?: RecordedAnthropicRequest } = {};
    // Without this, a write racing a client hang-up would surface as an unhandled 'error'.
    res.on('error', () => {});
    res.on('close', () => {
      const { rec } = state;
      if (res.writableFinished || rec?.finished) return;
      ac.abort();
      if (rec) {
        rec.aborted = true;
        notify();
      }
    });

    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      return; // the client went away mid-upload; nothing to answer
    }
    let body: MessagesRequest;
    let parseError: string | undefined;
    try {
      const parsed: unknown = JSON.parse(raw);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      body = parsed as MessagesRequest;
    } catch (err) {
      body = { messages: [] };
      parseError = (err as Error).message;
    }

    const record: RecordedAnthropicRequest = {
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
    const refuse = (status: number, message: string): void => {
      record.refused = message;
      sendJson(status, errorBody(ERROR_TYPES[status] ?? 'api_error', message));
      markFinished();
    };

    const key = req.headers['x-api-key'];
    if (typeof key !== 'string' || key === '') return refuse(401, 'x-api-key header is required');
    if (apiKey !== undefined && key !== apiKey) return refuse(401, 'invalid x-api-key');
    if (!req.headers['anthropic-version']) return refuse(400, 'anthropic-version: header is required');
    if (parseError !== undefined) return refuse(400, `There was an error parsing the body: ${parseError}`);
    const invalid = invalidRequest(body);
    if (invalid !== undefined) return refuse(400, invalid);
    if (body.stream !== true) return refuse(400, 'fake-anthropic: only streaming requests (stream: true) are answered');

    const reply = queue.shift() ?? defaultReply;
    const signal = ac.signal;
    const model = body.model ?? 'claude-fake';

    if ('hang' in reply) return; // the close handler records the eventual hang-up

    if ('error' in reply) {
      if (!(await sleep(reply.delayMs, signal))) return;
      const { status, type = ERROR_TYPES[status] ?? 'api_error', message = 'fake failure', headers } = reply.error;
      sendJson(status, errorBody(type, message), headers);
      markFinished();
      return;
    }

    // Skipping writes once the client is gone is what guarantees nothing is written after an abort.
    const live = (): boolean => !signal.aborted && !res.destroyed;
    const event = (payload: { type: string; [field: string]: unknown }): void => {
      if (live()) res.write(`event: ${payload.type}\ndata: ${JSON.stringify(payload)}\n\n`);
    };
    const end = (): void => {
      if (!live()) return;
      res.end();
      markFinished();
    };
    const messageStart = (inputTokens: number): void => {
      event({
        type: 'message_start',
        message: {
          id: `msg_fake_${++messageCounter}`,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
        },
      });
      event({ type: 'ping' });
    };
    /** A text block at `index`; resolves false if the client went away. */
    const textBlock = async (index: number, pieces: string[], delayMs: number | undefined): Promise<boolean> => {
      event({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const piece of pieces) {
        if (!(await sleep(delayMs, signal))) return false;
        event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } });
      }
      event({ type: 'content_block_stop', index });
      return true;
    };
    const finish = (stopReason: string, outputTokens: number): void => {
      event({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: outputTokens } });
      event({ type: 'message_stop' });
      end();
    };

    res.writeHead(200, { ...SSE_HEADERS, 'request-id': requestId });

    if ('streamError' in reply) {
      const error = { type: 'error', error: { type: reply.streamError.type, message: reply.streamError.message ?? 'fake stream failure' } };
      if (reply.text !== undefined) {
        messageStart(DEFAULT_INPUT_TOKENS);
        event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
        for (const piece of splitText(reply.text)) {
          if (!(await sleep(reply.delayMs, signal))) return;
          event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } });
        }
      }
      event(error);
      end();
      return;
    }

    if ('toolUses' in reply) {
      const pieces = reply.text === undefined ? [] : splitText(reply.text);
      messageStart(reply.usage?.input_tokens ?? DEFAULT_INPUT_TOKENS);
      let index = 0;
      if (reply.text !== undefined && !(await textBlock(index++, pieces, reply.delayMs))) return;
      for (const use of reply.toolUses) {
        if (!(await sleep(reply.delayMs, signal))) return;
        const json = typeof use.input === 'string' ? use.input : JSON.stringify(use.input ?? {});
        const half = Math.ceil(json.length / 2);
        event({
          type: 'content_block_start',
          index,
          content_block: { type: 'tool_use', id: use.id ?? `toolu_fake_${++toolUseCounter}`, name: use.name, input: {} },
        });
        // As the real API: an empty first delta, then the JSON in pieces, so clients must accumulate it.
        for (const partial of ['', json.slice(0, half), json.slice(half)]) {
          event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: partial } });
        }
        event({ type: 'content_block_stop', index });
        index++;
      }
      finish('tool_use', reply.usage?.output_tokens ?? pieces.length + reply.toolUses.length);
      return;
    }

    const pieces = reply.chunks ?? splitText(reply.text);
    messageStart(reply.usage?.input_tokens ?? DEFAULT_INPUT_TOKENS);
    if (!(await textBlock(0, pieces, reply.delayMs))) return;
    finish(reply.stopReason ?? 'end_turn', reply.usage?.output_tokens ?? pieces.length);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // Surface fake bugs to the client loudly rather than leaving it hanging.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const payload = JSON.stringify(errorBody('api_error', `fake-anthropic internal error: ${String(err)}`));
      res.writeHead(500, { 'content-type': 'application/json' }).end(payload);
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
        // server.close alone waits for hung or keep-alive sockets forever.
        server.closeAllConnections();
      });
    },
  };
}
