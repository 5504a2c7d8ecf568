// Here rather than in connection.ts: the help text states it, and every command imports this file.
export const DEFAULT_URL = 'http://127.0.0.1:8000';

export const USAGE = `Usage:
  agent-api chat "message" [--session ID] [--url URL] [--key KEY]
  agent-api runs get RUN_ID [--url URL] [--key KEY]
  agent-api runs follow RUN_ID [--after N] [--url URL] [--key KEY]
  agent-api runs cancel RUN_ID [--url URL] [--key KEY]
  agent-api keys create --name NAME [--rate-limit N] [--token-budget N] [--url URL] [--admin-key KEY]
  agent-api keys list [--url URL] [--admin-key KEY]
  agent-api keys update KEY_ID [--name NAME] [--rate-limit N|none] [--token-budget N|none] [--url URL] [--admin-key KEY]
  agent-api keys revoke KEY_ID [--url URL] [--admin-key KEY]
  agent-api serve
  agent-api --help

Commands:
  chat         Send a message to a running agent-api service and stream the reply to stdout.
               Tool calls and results, and the session id to continue with, go to stderr.
               Ctrl+C cancels the run.
  runs get     Print a run (status, reply, tool calls, usage, error) as JSON.
  runs follow  Stream a run's events as chat does: what already happened, then live until it
               ends. Reconnects by itself if the connection drops. Ctrl+C stops following; the
               run goes on.
  runs cancel  Stop a run, wherever it runs (a run that already ended is left as it is).
  keys create  Create a managed key (the service needs ADMIN_API_KEY); prints the key, once, to stdout.
  keys list    The managed keys: id, name, created, last used, limits, tokens used, revoked.
  keys update  Change a key's name, rate limit or token budget (none clears a limit).
  keys revoke  Revoke a key: refused on every worker and replica from the next request.
  serve        Start the service (like \`npm start\`; configured by environment variables).

Options:
  -s, --session ID   chat: continue this session (default: start a new one)
  -a, --after N      runs follow: start after event N (default 0: from the first event)
  -u, --url URL      Service URL (default: $AGENT_API_URL, else ${DEFAULT_URL})
  -k, --key KEY      API key (default: $AGENT_API_KEY)
      --admin-key KEY  keys: the service's admin key (default: $ADMIN_API_KEY)
  -h, --help         Show this help

Exit codes: 0 done, 1 the request or the run failed, 2 usage error, 3 the key may not do that
(401/403), 4 no such key id (404), 130 interrupted (Ctrl+C).
`;

/** Thrown by a command for bad arguments; the dispatcher turns it into exit code 2 with the help text. */
export class UsageError extends Error {}

/** Asked-for help goes to stdout (it is the output); the exit code to return. */
export function showUsage(): number {
  process.stdout.write(USAGE);
  return 0;
}

/** Help after a mistake goes to stderr, so stdout stays empty; the exit code to return. */
export function usageError(message: string): number {
  process.stderr.write(`agent-api: ${message}\n\n${USAGE}`);
  return 2;
}
