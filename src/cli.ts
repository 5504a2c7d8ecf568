#!/usr/bin/env node
/**
 * The `agent-api` command: `chat` talks to a running service through the TypeScript client
 * (streaming the reply to stdout, tool activity and the session id to stderr); `serve` runs the
 * service itself, exactly as `npm start` does.
 */
import { parseArgs } from 'node:util';
import { AgentApiError, AgentClient, NetworkError } from './client/index.js';
import type { StreamEvent } from './client/index.js';

const DEFAULT_URL = 'http://127.0.0.1:8000';

const USAGE = `Usage:
  agent-api chat "message" [--session ID] [--url URL] [--key KEY]
  agent-api serve
  agent-api --help

Commands:
  chat    Send a message to a running agent-api service and stream the reply to stdout.
          Tool calls and results, and the session id to continue with, go to stderr.
  serve   Start the service (like \`npm start\`; configured by environment variables).

Options for chat:
  -s, --session ID   Continue this session (default: start a new one)
  -u, --url URL      Service URL (default: $AGENT_API_URL, else ${DEFAULT_URL})
  -k, --key KEY      API key (default: $AGENT_API_KEY)
  -h, --help         Show this help

Exit codes: 0 done, 1 the request failed, 2 usage error, 130 interrupted (Ctrl+C).
`;

class UsageError extends Error {}

type Stream = NodeJS.WriteStream;

function usageError(message: string): number {
  process.stderr.write(`agent-api: ${message}\n\n${USAGE}`);
  return 2;
}

/** Compact JSON, cut to `max` characters. */
function brief(value: unknown, max = 200): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A tool result without the fields that only echo its arguments ({expression, result} → {result}). */
function resultView(args: unknown, result: unknown): string {
  if (typeof result === 'object' && result !== null && !Array.isArray(result)) {
    const entries = Object.entries(result);
    if (entries.length === 1 && entries[0]![0] === 'error' && typeof entries[0]![1] === 'string') return `error: ${entries[0]![1]}`;
    if (typeof args === 'object' && args !== null) {
      const a = args as Record<string, unknown>;
      const kept = entries.filter(([k, v]) => !(k in a) || JSON.stringify(a[k]) !== JSON.stringify(v));
      if (kept.length > 0 && kept.length < entries.length) return brief(Object.fromEntries(kept));
    }
  }
  return brief(result);
}

/** Writes the reply to stdout and tool activity to stderr, keeping the two readable on one terminal. */
class Printer {
  /** stdout holds text not ended by a newline. */
  private midLine = false;
  /** The arguments of each call, to show its result against. */
  private readonly calls = new Map<string, unknown>();
  /** The call whose `⚙ tool(args)` line on stderr awaits its ` → result`. */
  private pendingCall: string | undefined;
  private readonly shared: boolean;

  constructor(
    private readonly out: Stream,
    private readonly err: Stream,
  ) {
    // Both on one terminal: a stderr line must not start in the middle of the reply's line.
    this.shared = Boolean(out.isTTY && err.isTTY);
  }

  text(content: string): void {
    if (!content) return;
    this.closeCall();
    this.out.write(content);
    this.midLine = !content.endsWith('\n');
  }

  toolCall(event: Extract<StreamEvent, { type: 'tool_call' }>): void {
    this.closeCall();
    this.breakLine();
    this.err.write(`⚙ ${event.name}(${brief(event.arguments, 120)})`);
    this.calls.set(event.id, event.arguments);
    this.pendingCall = event.id;
  }

  toolResult(event: Extract<StreamEvent, { type: 'tool_result' }>): void {
    const result = resultView(this.calls.get(event.id), event.result);
    this.calls.delete(event.id);
    if (this.pendingCall === event.id) {
      this.err.write(` → ${result}\n`);
      this.pendingCall = undefined;
      return;
    }
    // Several calls in one step: their results come after all the calls.
    this.closeCall();
    this.breakLine();
    this.err.write(`⚙ ${event.name} → ${result}\n`);
  }

  /** One line on stderr, on a line of its own. */
  line(text: string): void {
    this.closeCall();
    this.breakLine();
    this.err.write(`${text}\n`);
  }

  /** After the reply: end the terminal line (a pipe gets the reply exactly). */
  finish(): void {
    this.closeCall();
    if (this.midLine && this.out.isTTY) this.out.write('\n');
    this.midLine = false;
  }

  private closeCall(): void {
    if (!this.pendingCall) return;
    this.err.write('\n');
    this.pendingCall = undefined;
  }

  private breakLine(): void {
    if (this.shared && this.midLine) {
      this.err.write('\n');
      this.midLine = false;
    }
  }
}

function continueHint(sessionId: string): string {
  return `session ${sessionId} — continue with: agent-api chat --session ${sessionId} "…"`;
}

function describeError(err: unknown): string {
  if (err instanceof NetworkError) return `${err.message}${err.requestId ? ` (request id ${err.requestId})` : ''}`;
  if (err instanceof AgentApiError) {
    const status = err.status > 0 ? `${err.status} ` : '';
    return `${status}${err.code}: ${err.message}${err.requestId ? ` (request id ${err.requestId})` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

interface ChatOptions {
  message: string;
  session: string | undefined;
  url: string;
  key: string;
}

async function chat(options: ChatOptions): Promise<number> {
  const client = new AgentClient({ baseUrl: options.url, apiKey: options.key });
  const printer = new Printer(process.stdout, process.stderr);
  const ac = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(130); // a second Ctrl+C: stop waiting
    interrupted = true;
    ac.abort();
  };
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    // The reader went away (`| head`): hang up on the service and stop quietly.
    if (err.code === 'EPIPE') process.exit(0);
    process.stderr.write(`agent-api: cannot write the reply: ${err.message}\n`);
    process.exit(1);
  };
  process.on('SIGINT', onSigint);
  process.stdout.on('error', onStdoutError);

  let sessionId = options.session;
  let started = false;
  let failed: Extract<StreamEvent, { type: 'error' }> | undefined;
  try {
    const stream = client.stream(options.message, { signal: ac.signal, ...(options.session === undefined ? {} : { sessionId: options.session }) });
    for await (const event of stream) {
      switch (event.type) {
        case 'start':
          sessionId = event.session_id;
          started = true;
          break;
        case 'token':
          printer.text(event.content);
          break;
        case 'tool_call':
          printer.toolCall(event);
          break;
        case 'tool_result':
          printer.toolResult(event);
          break;
        case 'error':
          failed = event;
          break;
        case 'end':
          sessionId = event.session_id;
          break;
      }
    }
    printer.finish();
    if (failed) printer.line(`error: ${failed.code}: ${failed.message} (the reply was cut short)`);
    if (sessionId) printer.line(continueHint(sessionId));
    return failed ? 1 : 0;
  } catch (err) {
    printer.finish();
    if (interrupted && ac.signal.aborted) {
      printer.line('interrupted');
      if (sessionId) printer.line(continueHint(sessionId));
      return 130;
    }
    printer.line(`error: ${describeError(err)}`);
    // Refused before the turn began (bad key, unknown or busy session): nothing to continue.
    if (started && sessionId) printer.line(continueHint(sessionId));
    return 1;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function parseChat(args: string[]): ChatOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      session: { type: 'string', short: 's' },
      url: { type: 'string', short: 'u' },
      key: { type: 'string', short: 'k' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const message = positionals.join(' ');
  if (positionals.length === 0) throw new UsageError('chat needs a message');
  const url = values.url ?? process.env.AGENT_API_URL ?? DEFAULT_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`not an http(s) URL: ${url}`);
  }
  const key = values.key ?? process.env.AGENT_API_KEY;
  if (!key) throw new UsageError('no API key: pass --key KEY or set AGENT_API_KEY');
  if (values.session === '') throw new UsageError('--session needs a session id');
  return { message, session: values.session, url, key };
}

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) return usageError('no command given');
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'chat': {
        const options = parseChat(rest);
        if (options === 'help') {
          process.stdout.write(USAGE);
          return 0;
        }
        return await chat(options);
      }
      case 'serve':
        if (rest.length === 1 && (rest[0] === '--help' || rest[0] === '-h')) {
          process.stdout.write(USAGE);
          return 0;
        }
        if (rest.length > 0) throw new UsageError(`serve takes no arguments (configure it with environment variables): ${rest.join(' ')}`);
        // main.ts starts the service (and installs its signal handlers) when imported.
        await import('./main.js');
        return -1;
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } catch (err) {
    // parseArgs reports unknown options and missing values with a code of its own.
    const code = (err as { code?: unknown } | undefined)?.code;
    if (err instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      return usageError((err as Error).message);
    }
    throw err;
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    if (code < 0) return; // serving: the server owns the process now
    process.exitCode = code;
    // Nothing should keep the process up now; if something does, do not hang.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`agent-api: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
