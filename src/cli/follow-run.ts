import { clientFor, type Connection } from './connection.js';
import { describeError } from './describe-error.js';
import { Printer } from './printer.js';
import { TurnView } from './turn-view.js';
import { watchInterrupt } from './watch-interrupt.js';

export interface FollowOptions extends Connection {
  runId: string;
  after: number;
}

/**
 * `runs follow`: a run's events printed as `chat` prints them, replayed then live; the client
 * reconnects by itself after a dropped connection. Ctrl+C stops following, never the run.
 */
export async function followRun(options: FollowOptions): Promise<number> {
  const { runId } = options;
  const view = new TurnView(new Printer(process.stdout, process.stderr));
  const interrupt = watchInterrupt();
  let last = options.after;
  try {
    for await (const { id, event } of clientFor(options).runs.events(runId, { after: options.after, signal: interrupt.signal })) {
      last = id;
      view.show(event);
    }
    return view.close();
  } catch (err) {
    view.printer.finish();
    if (interrupt.interrupted && interrupt.signal.aborted) {
      view.printer.line(`stopped following run ${runId} (it goes on) — resume with: agent-api runs follow ${runId} --after ${last}`);
      return 130;
    }
    view.printer.line(`error: ${describeError(err)}`);
    return 1;
  } finally {
    interrupt.dispose();
  }
}
