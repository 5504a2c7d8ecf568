/**
 * Starts the real service (real store) wired to a fake LLM, and gives tests small helpers to call
 * it: over a real loopback socket (the default) or, with `transport: 'inject'`, through Fastify's
 * inject() with no socket at all. Everything a test starts, `close()` stops.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tool, type ToolSet } from 'ai';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createAgent, type Agent } from '../../src/agent/agent.js';
import { createChatModel } from '../../src/agent/chat-model.js';
import type { StreamEvent } from '../../src/core/events.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createAgentServer, type AgentServer } from '../../src/server.js';
import type { Storage } from '../../src/store/storage.js';
import { startFakeLlm, type FakeLlm } from './fake-llm.js';

export const KEY_A = 'test-key-alpha';
export const KEY_B = 'test-key-bravo';

/** A custom agent (our own tools, no built-ins) on the fake model, as a user of createAgent would build one. */
export function fakeModelAgent(fake: FakeLlm, tools: ToolSet): Agent {
  return createAgent({ model: createChatModel({ baseURL: fake.url, model: 'fake-model' }), maxRetries: 0, tools });
}

/** A tool named for `slow` that sleeps `ms` and ignores cancellation, counting starts and finishes. */
export function slowTool(counts: { started: number; finished: number }) {
  return tool({
    description: 'Takes its time and ignores cancellation',
    inputSchema: z.object({ ms: z.number() }),
    execute: async ({ ms }) => {
      counts.started++;
      await new Promise((r) => setTimeout(r, ms));
      counts.finished++;
      return { waited: ms };
    },
  });
}

export interface TestService {
  /** The base URL of the listening service; throws under `transport: 'inject'` (nothing listens). */
  readonly url: string;
  fake: FakeLlm;
  server: AgentServer;
  /** Directory holding the SQLite file; removed by close() unless `keepDir`. */
  dir: string;
  /**
   * A request relative to the service with KEY_A unless `key` (null = no key) is given: `fetch`
   * over the socket, or inject() answered with an equivalent (fully buffered) Response.
   */
  request(path: string, init?: RequestInit & { key?: string | null; json?: unknown }): Promise<Response>;
  chat(body: unknown, key?: string): Promise<Response>;
  stream(body: unknown, key?: string, signal?: AbortSignal): Promise<Response>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Extra environment for loadConfig (strings, as in process.env). */
  env?: Record<string, string>;
  agent?: Agent;
  /** Several agents by name (createAgentServer's `agents`), and which one is the default. */
  agents?: Record<string, Agent>;
  defaultAgent?: string;
  store?: Storage;
  /** Reuse a data directory (to test persistence across restarts). */
  dir?: string;
  keepDir?: boolean;
  /** Reuse a running fake LLM instead of starting one. */
  fake?: FakeLlm;
  /** No LLM_BASE_URL/LLM_MODEL: the service must start unconfigured. */
  noModel?: boolean;
  /**
   * `socket` (default): the service listens on a loopback port and requests are real HTTP.
   * `inject`: it never listens; requests go through Fastify's inject() and come back whole, as a
   * standard Response. Keep `socket` for what only a socket shows: client hang-ups, keep-alive,
   * shutdown, delivery as it happens, and real clients (openai, the AI SDK, AgentClient).
   */
  transport?: 'socket' | 'inject';
}

/** Statuses whose Response must have a null body (the Response constructor refuses one). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

/** What `fetch(path, init)` would have answered, through `app.inject()` instead of a socket. */
async function injectFetch(app: FastifyInstance, path: string, init: RequestInit): Promise<Response> {
  if (init.signal) throw new Error("transport 'inject' cannot hang up: a test that aborts needs transport 'socket'");
  const headers = new Headers(init.headers);
  let payload: string | Buffer | undefined;
  if (typeof init.body === 'string') {
    payload = init.body;
    // As fetch does for a string body.
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain;charset=UTF-8');
  } else if (init.body instanceof Uint8Array) {
    payload = Buffer.from(init.body);
  } else if (init.body !== undefined && init.body !== null) {
    throw new Error("transport 'inject' takes a string or bytes as the request body");
  }
  const method = (init.method ?? 'GET').toUpperCase();
  const res = await app.inject({ method, url: path, headers: Object.fromEntries(headers), ...(payload === undefined ? {} : { payload }) });

  const out = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(name, String(v));
  }
  const nullBody = NULL_BODY_STATUSES.has(res.statusCode) || method === 'HEAD';
  return new Response(nullBody ? null : new Uint8Array(res.rawPayload), { status: res.statusCode, statusText: res.statusMessage, headers: out });
}

export async function startService(options: StartOptions = {}): Promise<TestService> {
  const fake = options.fake ?? (await startFakeLlm());
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'agent-api-test-'));
  const config: Config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    VALID_API_KEYS: `${KEY_A},${KEY_B}`,
    DATABASE_URL: `sqlite:${join(dir, 'agent.db')}`,
    LLM_MAX_RETRIES: '0',
    ...(options.noModel ? {} : { LLM_BASE_URL: fake.url, LLM_MODEL: 'fake-model', LLM_API_KEY: 'sk-fake' }),
    ...options.env,
  });
  const server = await createAgentServer({
    config,
    ...(options.agent ? { agent: options.agent } : {}),
    ...(options.agents ? { agents: options.agents } : {}),
    ...(options.defaultAgent ? { defaultAgent: options.defaultAgent } : {}),
    ...(options.store ? { store: options.store } : {}),
  });
  const inject = options.transport === 'inject';
  let url: string | undefined;
  if (inject) await server.app.ready();
  else url = (await server.listen()).replace('0.0.0.0', '127.0.0.1');
  const send = (path: string, init: RequestInit): Promise<Response> => (url === undefined ? injectFetch(server.app, path, init) : fetch(url + path, init));

  const request: TestService['request'] = (path, init = {}) => {
    const { key = KEY_A, json, headers, ...rest } = init;
    const h = new Headers(headers);
    if (key !== null && !h.has('x-api-key')) h.set('x-api-key', key);
    if (json !== undefined) h.set('content-type', 'application/json');
    return send(path, { ...rest, headers: h, ...(json !== undefined ? { body: JSON.stringify(json) } : {}) });
  };

  return {
    get url() {
      if (url === undefined) throw new Error("this service does not listen (transport: 'inject'): it has no URL");
      return url;
    },
    fake,
    server,
    dir,
    request,
    chat: (body, key = KEY_A) => request('/chat', { method: 'POST', json: body, key }),
    stream: (body, key = KEY_A, signal) => request('/chat/stream', { method: 'POST', json: body, key, ...(signal ? { signal } : {}) }),
    async close() {
      await server.close();
      if (!options.fake) await fake.close();
      if (!options.dir && !options.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface ParsedSse {
  events: Array<{ id: string | undefined; data: StreamEvent }>;
  comments: string[];
}

/** A strict SSE parser for assertions: every data line must be JSON, every event must have an id. */
export function parseSse(text: string): ParsedSse {
  const events: ParsedSse['events'] = [];
  const comments: string[] = [];
  for (const block of text.split('\n\n')) {
    if (!block.trim()) continue;
    let id: string | undefined;
    let data: string | undefined;
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) comments.push(line.slice(1).trim());
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('data: ')) data = (data === undefined ? '' : data + '\n') + line.slice(6);
      else throw new Error(`unexpected SSE line: ${JSON.stringify(line)}`);
    }
    if (data !== undefined) events.push({ id, data: JSON.parse(data) as StreamEvent });
  }
  return { events, comments };
}

/** Reads a streaming body, handing each decoded network read to `onChunk` as it arrives. */
export async function readChunks(res: Response, onChunk: (text: string, at: number) => void = () => {}): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let all = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const text = decoder.decode(value, { stream: true });
    all += text;
    onChunk(text, Date.now());
  }
  return all + decoder.decode();
}

/** Polls `cond` until true; fails after `timeoutMs` (generous: CI machines are slow). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
