import { AgentClient } from '../client/index.js';
import { DEFAULT_URL, UsageError } from './usage.js';

/** The parseArgs options of every command that talks to a service. */
export const CONNECTION_OPTIONS = {
  url: { type: 'string', short: 'u' },
  key: { type: 'string', short: 'k' },
} as const;

export interface Connection {
  url: string;
  key: string;
}

/** The service to talk to: the options, else the environment; throws UsageError if unusable. */
export function connection(values: { url?: string | undefined; key?: string | undefined }): Connection {
  const url = values.url ?? process.env['AGENT_API_URL'] ?? DEFAULT_URL;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error();
  } catch {
    throw new UsageError(`not an http(s) URL: ${url}`);
  }
  const key = values.key ?? process.env['AGENT_API_KEY'];
  if (!key) throw new UsageError('no API key: pass --key KEY or set AGENT_API_KEY');
  return { url, key };
}

export function clientFor(c: Connection): AgentClient {
  return new AgentClient({ baseUrl: c.url, apiKey: c.key });
}
