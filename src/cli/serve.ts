import { showUsage, UsageError } from './usage.js';

/** What `serve` returns instead of an exit code: the server owns the process from then on. */
export const SERVING = -1;

export async function serve(args: string[]): Promise<number> {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) return showUsage();
  if (args.length > 0) throw new UsageError(`serve takes no arguments (configure it with environment variables): ${args.join(' ')}`);
  // main.ts starts the service (and installs its signal handlers) when imported.
  await import('../main.js');
  return SERVING;
}
