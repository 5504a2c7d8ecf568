#!/usr/bin/env node
/**
 * The `agent-api` command: `chat` and `runs` talk to a running service through the TypeScript
 * client (streaming replies to stdout, tool activity and the session id to stderr); `serve` runs
 * the service itself, exactly as `npm start` does.
 */
import { chat, parseChat } from './chat.js';
import { keys } from './keys.js';
import { runs } from './runs.js';
import { serve, SERVING } from './serve.js';
import { showUsage, UsageError, usageError } from './usage.js';

/** Resolves to the exit code (or SERVING); throws UsageError for bad arguments. */
type Command = (args: string[]) => Promise<number>;

// A Map, not an object literal: `agent-api toString` must be an unknown command.
const commands = new Map<string, Command>([
  [
    'chat',
    async (args) => {
      const options = parseChat(args);
      return options === 'help' ? showUsage() : chat(options);
    },
  ],
  ['runs', runs],
  ['keys', keys],
  ['serve', serve],
]);

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) return usageError('no command given');
  if (name === '--help' || name === '-h' || name === 'help') return showUsage();
  try {
    const command = commands.get(name);
    if (!command) throw new UsageError(`unknown command: ${name}`);
    return await command(rest);
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
    if (code === SERVING) return;
    process.exitCode = code;
    // Nothing should keep the process up now; if something does, do not hang.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    process.stderr.write(`agent-api: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
