import { parseArgs } from 'node:util';
import { clientFor, CONNECTION_OPTIONS, connection, type Connection } from './connection.js';
import { describeError } from './describe-error.js';
import { followRun } from './follow-run.js';
import { showUsage, UsageError } from './usage.js';

type Subcommand = 'get' | 'follow' | 'cancel';
const SUBCOMMANDS: readonly string[] = ['get', 'follow', 'cancel'] satisfies Subcommand[];

export interface RunCommandOptions extends Connection {
  runId: string;
  /** `follow` only: the event number to start after. */
  after: number;
}

/** Throws UsageError, or parseArgs' own ERR_PARSE_ARGS_* errors, for bad arguments. */
export function parseRuns(args: string[]): { subcommand: Subcommand; options: RunCommandOptions } | 'help' {
  const [name, ...rest] = args;
  if (name === '--help' || name === '-h') return 'help';
  if (name === undefined) throw new UsageError('runs needs a subcommand: get, follow or cancel');
  if (!SUBCOMMANDS.includes(name)) throw new UsageError(`unknown runs subcommand: ${name} (get, follow or cancel)`);
  const subcommand = name as Subcommand;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { after: { type: 'string', short: 'a' }, ...CONNECTION_OPTIONS, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return 'help';
  const [runId, ...extra] = positionals;
  if (runId === undefined || runId === '') throw new UsageError(`runs ${subcommand} needs a run id`);
  if (extra.length > 0) throw new UsageError(`runs ${subcommand} takes one run id, not also: ${extra.join(' ')}`);
  if (values.after !== undefined && subcommand !== 'follow') throw new UsageError('--after is an option of runs follow');
  let after = 0;
  if (values.after !== undefined) {
    if (!/^\d{1,15}$/.test(values.after)) throw new UsageError(`--after needs an event number (a whole number, 0 or more): ${values.after}`);
    after = Number(values.after);
  }
  return { subcommand, options: { runId, after, ...connection(values) } };
}

/** `runs get`: the run as JSON on stdout. */
async function getRun(options: RunCommandOptions): Promise<number> {
  const run = await clientFor(options).runs.get(options.runId);
  process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
  return 0;
}

/** `runs cancel`: idempotent, so a run that had already ended is not a failure. */
async function cancelRun(options: RunCommandOptions): Promise<number> {
  const run = await clientFor(options).runs.cancel(options.runId);
  const ended = run.status !== 'running' && run.status !== 'queued';
  process.stdout.write(ended ? `run ${run.id} had already ended: ${run.status}\n` : `run ${run.id}: cancelling\n`);
  return 0;
}

/** `agent-api runs get|follow|cancel RUN_ID`; resolves to the exit code. */
export async function runs(args: string[]): Promise<number> {
  const parsed = parseRuns(args);
  if (parsed === 'help') return showUsage();
  const { subcommand, options } = parsed;
  if (subcommand === 'follow') return followRun(options);
  try {
    return await (subcommand === 'get' ? getRun(options) : cancelRun(options));
  } catch (err) {
    process.stderr.write(`error: ${describeError(err)}\n`);
    return 1;
  }
}
