import { parseArgs } from 'node:util';
import { AgentApiError, type CreatedKey, type KeyList, type ManagedKey } from '../client/index.js';
import { describeCause, errorFromResponse, networkError } from '../client/errors.js';
import { describeError } from './describe-error.js';
import { DEFAULT_URL, showUsage, UsageError } from './usage.js';

type Subcommand = 'create' | 'list' | 'update' | 'revoke';
const SUBCOMMANDS: readonly string[] = ['create', 'list', 'update', 'revoke'] satisfies Subcommand[];

/** Exit codes beyond 0/1/2: scripts tell a wrong admin key from a wrong key id. */
export const EXIT_NOT_ALLOWED = 3;
export const EXIT_NOT_FOUND = 4;

interface KeysOptions {
  url: string;
  adminKey: string;
  name?: string;
  /** null (`none` on the command line, for update): the limit is cleared. */
  rateLimit?: number | null;
  tokenBudget?: number | null;
  id?: string;
}

function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1) throw new UsageError(`${flag} needs a whole number above 0: ${value}`);
  return Number(value);
}

/** For `keys update`: `none` clears the limit. */
function limitOrNone(flag: string, value: string | undefined): number | null | undefined {
  return value === 'none' ? null : wholeNumber(flag, value);
}

/** Throws UsageError, or parseArgs' own ERR_PARSE_ARGS_* errors, for bad arguments. */
export function parseKeys(args: string[]): { subcommand: Subcommand; options: KeysOptions } | 'help' {
  const [name, ...rest] = args;
  if (name === '--help' || name === '-h') return 'help';
  if (name === undefined) throw new UsageError('keys needs a subcommand: create, list, update or revoke');
  if (!SUBCOMMANDS.includes(name)) throw new UsageError(`unknown keys subcommand: ${name} (create, list, update or revoke)`);
  const subcommand = name as Subcommand;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      name: { type: 'string', short: 'n' },
      'rate-limit': { type: 'string' },
      'token-budget': { type: 'string' },
      url: { type: 'string', short: 'u' },
      'admin-key': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const url = values.url ?? process.env['AGENT_API_URL'] ?? DEFAULT_URL;
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new UsageError(`not an http(s) URL: ${url}`);
  const adminKey = values['admin-key'] ?? process.env['ADMIN_API_KEY'];
  if (!adminKey) throw new UsageError('no admin key: pass --admin-key KEY or set ADMIN_API_KEY');
  const options: KeysOptions = { url, adminKey };
  if (subcommand === 'create') {
    if (!values.name?.trim()) throw new UsageError('keys create needs --name NAME');
    options.name = values.name;
    const rateLimit = wholeNumber('--rate-limit', values['rate-limit']);
    const tokenBudget = wholeNumber('--token-budget', values['token-budget']);
    if (rateLimit !== undefined) options.rateLimit = rateLimit;
    if (tokenBudget !== undefined) options.tokenBudget = tokenBudget;
  } else if (subcommand === 'update') {
    if (values.name !== undefined) {
      if (!values.name.trim()) throw new UsageError('--name needs a name');
      options.name = values.name;
    }
    const rateLimit = limitOrNone('--rate-limit', values['rate-limit']);
    const tokenBudget = limitOrNone('--token-budget', values['token-budget']);
    if (rateLimit !== undefined) options.rateLimit = rateLimit;
    if (tokenBudget !== undefined) options.tokenBudget = tokenBudget;
    if (options.name === undefined && rateLimit === undefined && tokenBudget === undefined) {
      throw new UsageError('keys update needs --name, --rate-limit or --token-budget (N, or none to clear a limit)');
    }
  } else if (values.name !== undefined || values['rate-limit'] !== undefined || values['token-budget'] !== undefined) {
    throw new UsageError('--name, --rate-limit and --token-budget are options of keys create and keys update');
  }
  if (subcommand === 'revoke' || subcommand === 'update') {
    const [id, ...extra] = positionals;
    if (!id) throw new UsageError(`keys ${subcommand} needs a key id (keys list shows them)`);
    if (extra.length > 0) throw new UsageError(`keys ${subcommand} takes one key id, not also: ${extra.join(' ')}`);
    options.id = id;
  } else if (positionals.length > 0) throw new UsageError(`keys ${subcommand} takes no arguments: ${positionals.join(' ')}`);
  return { subcommand, options };
}

/** One admin call; a non-2xx answer is thrown as the client's typed error. */
async function call<T>(o: KeysOptions, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, o.url), {
      method,
      headers: { 'x-api-key': o.adminKey, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw networkError(`cannot reach ${o.url}: ${describeCause(err)}`, err);
  }
  if (!res.ok) throw await errorFromResponse(res);
  return (await res.json()) as T;
}

/** A plain-text table: columns padded to their widest cell. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  return (
    [header, ...rows]
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

const day = (iso: string | null) => (iso === null ? '-' : iso.slice(0, 16).replace('T', ' '));

function listed(keys: ManagedKey[]): string {
  if (keys.length === 0) return 'no managed keys yet (agent-api keys create --name NAME)\n';
  return table(
    ['ID', 'NAME', 'CREATED', 'LAST USED', 'RATE/MIN', 'TOKENS USED', 'BUDGET', 'REVOKED'],
    keys.map((k) => [
      k.id,
      k.name,
      day(k.created_at),
      day(k.last_used_at),
      k.rate_limit_per_minute === null ? 'default' : String(k.rate_limit_per_minute),
      String(k.tokens_used),
      k.token_budget === null ? '-' : String(k.token_budget),
      day(k.revoked_at),
    ]),
  );
}

/** `agent-api keys create|list|update|revoke` against a running service's admin API; resolves to the exit code. */
export async function keys(args: string[]): Promise<number> {
  const parsed = parseKeys(args);
  if (parsed === 'help') return showUsage();
  const { subcommand, options: o } = parsed;
  try {
    if (subcommand === 'create') {
      const created = await call<CreatedKey>(o, 'POST', '/admin/keys', {
        name: o.name,
        ...(o.rateLimit === undefined ? {} : { rate_limit_per_minute: o.rateLimit }),
        ...(o.tokenBudget === undefined ? {} : { token_budget: o.tokenBudget }),
      });
      // The key alone on stdout (scripts capture it); what it is, on stderr.
      process.stderr.write(`created ${created.id} (${created.name}); the key is shown this once:\n`);
      process.stdout.write(`${created.key}\n`);
    } else if (subcommand === 'list') {
      process.stdout.write(listed((await call<KeyList>(o, 'GET', '/admin/keys')).data));
    } else if (subcommand === 'update') {
      const changed = await call<ManagedKey>(o, 'PATCH', `/admin/keys/${encodeURIComponent(o.id ?? '')}`, {
        ...(o.name === undefined ? {} : { name: o.name }),
        ...(o.rateLimit === undefined ? {} : { rate_limit_per_minute: o.rateLimit }),
        ...(o.tokenBudget === undefined ? {} : { token_budget: o.tokenBudget }),
      });
      process.stdout.write(listed([changed]));
    } else {
      const revoked = await call<ManagedKey>(o, 'DELETE', `/admin/keys/${encodeURIComponent(o.id ?? '')}`);
      process.stdout.write(`revoked ${revoked.id} (${revoked.name}) at ${revoked.revoked_at ?? '?'}\n`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`error: ${describeError(err)}\n`);
    if (err instanceof AgentApiError && (err.status === 401 || err.status === 403)) return EXIT_NOT_ALLOWED;
    if (err instanceof AgentApiError && err.status === 404) return EXIT_NOT_FOUND;
    return 1;
  }
}
