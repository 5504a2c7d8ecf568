import { parseArgs } from 'node:util';
import { AgentApiError, AgentClient, NetworkError, type StreamEvent } from '../client/index.js';
import { Printer } from './printer.js';
import { DEFAULT_URL, UsageError } from './usage.js';

export interface ChatOptions {
  message: string;
  session: string | undefined;
  url: string;
  key: string;
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

/** Throws UsageError, or parseArgs' own ERR_PARSE_ARGS_* errors, for bad arguments. */
export function parseChat(args: string[]): ChatOptions | 'help' {
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
  const url = values.url ?? process.env['AGENT_API_URL'] ?? DEFAULT_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`not an http(s) URL: ${url}`);
  }
  const key = values.key ?? process.env['AGENT_API_KEY'];
  if (!key) throw new UsageError('no API key: pass --key KEY or set AGENT_API_KEY');
  if (values.session === '') throw new UsageError('--session needs a session id');
  return { message, session: values.session, url, key };
}

/** One turn, streamed; resolves to the exit code. */
export async function chat(options: ChatOptions): Promise<number> {
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
