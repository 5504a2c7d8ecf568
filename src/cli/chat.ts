import { parseArgs } from 'node:util';
import { clientFor, CONNECTION_OPTIONS, connection, type Connection } from './connection.js';
import { describeError } from './describe-error.js';
import { Printer } from './printer.js';
import { continueHint, TurnView } from './turn-view.js';
import { UsageError } from './usage.js';
import { watchInterrupt } from './watch-interrupt.js';

export interface ChatOptions extends Connection {
  message: string;
  session: string | undefined;
}

/** Throws UsageError, or parseArgs' own ERR_PARSE_ARGS_* errors, for bad arguments. */
export function parseChat(args: string[]): ChatOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      session: { type: 'string', short: 's' },
      ...CONNECTION_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const message = positionals.join(' ');
  if (positionals.length === 0) throw new UsageError('chat needs a message');
  const { url, key } = connection(values);
  if (values.session === '') throw new UsageError('--session needs a session id');
  return { message, session: values.session, url, key };
}

/** One turn, streamed; resolves to the exit code. */
export async function chat(options: ChatOptions): Promise<number> {
  const client = clientFor(options);
  const view = new TurnView(new Printer(process.stdout, process.stderr), options.session);
  const interrupt = watchInterrupt();
  try {
    // Said explicitly, whatever the service's default: Ctrl+C hangs up, and that stops the run.
    const stream = client.stream(options.message, {
      signal: interrupt.signal,
      onDisconnect: 'cancel',
      ...(options.session === undefined ? {} : { sessionId: options.session }),
    });
    for await (const event of stream) view.show(event);
    return view.close();
  } catch (err) {
    const { printer, sessionId } = view;
    printer.finish();
    if (interrupt.interrupted && interrupt.signal.aborted) {
      printer.line(view.runId ? `interrupted: run ${view.runId} cancelled` : 'interrupted');
      if (sessionId) printer.line(continueHint(sessionId));
      return 130;
    }
    printer.line(`error: ${describeError(err)}`);
    // Refused before the turn began (bad key, unknown or busy session): nothing to continue.
    if (view.started && sessionId) printer.line(continueHint(sessionId));
    return 1;
  } finally {
    interrupt.dispose();
  }
}
