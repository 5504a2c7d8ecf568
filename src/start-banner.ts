import type { KeyOrigin } from './first-run-key.js';

/** The address to show: a wildcard host is reached as localhost. */
export function displayUrl(host: string, port: number): string {
  const shown = host === '0.0.0.0' || host === '::' || host === '' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}

/** How to use the key, in at most three lines: shown in full only by the start that generated it. */
export function keyLines(origin: KeyOrigin): string[] {
  switch (origin.kind) {
    case 'configured':
      return ['  API keys:   from VALID_API_KEYS'];
    case 'generated':
      return [
        `  API key:    ${origin.key}`,
        origin.keptIn
          ? `              generated now and shown once; kept in ${origin.keptIn} for later starts`
          : '              generated now and shown once; not kept (it ends with this process)',
        '  Send it as the X-API-Key header; set VALID_API_KEYS=key1,key2 to use your own.',
      ];
    case 'kept':
      return [`  API key:    ${origin.key.slice(0, 8)}… (kept in ${origin.keptIn}; send it as X-API-Key)`];
  }
}

/** Printed once after the service listens (by the primary when there are workers), to stderr: at most 6 lines. */
export function startBanner(version: string, url: string, origin: KeyOrigin): string {
  return [`agent-api ${version} listening on ${url}`, `  playground: ${url}/`, `  API docs:   ${url}/docs`, ...keyLines(origin)].join('\n') + '\n';
}
