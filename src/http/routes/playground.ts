import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, errorBody } from '../errors.js';

/** The page runs only its own script and style and talks only to this origin. */
export const PLAYGROUND_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** dist/playground at the package root, from src/http/routes (tsx) and dist/http/routes alike. */
export const DEFAULT_PLAYGROUND_DIR = fileURLToPath(new URL('../../../dist/playground/', import.meta.url));

const FILES = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/playground/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/playground/styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
} as const;

type Url = keyof typeof FILES;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const NOT_BUILT =
  'The playground is not built (dist/playground is missing). Run `npm run build` (`npm ci` also builds it) and restart the service. The API itself works without it.';

/** All three files, or the reason they could not be read. Read once, at startup. */
function loadAssets(dir: string): Map<Url, Asset> | Error {
  const assets = new Map<Url, Asset>();
  try {
    for (const [url, { file, type }] of Object.entries(FILES) as Array<[Url, (typeof FILES)[Url]]>) {
      const body = readFileSync(join(dir, file));
      assets.set(url, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` });
    }
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
  return assets;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  return header !== undefined && header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function notBuiltPage(): string {
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8"><title>Playground not built</title></head><body>',
    '<h1>The playground is not built</h1>',
    '<p><code>dist/playground</code> is missing. Run <code>npm run build</code> (<code>npm ci</code> also builds it) and restart the service.</p>',
    '<p>The API itself works without it: see <a href="/docs">/docs</a>.</p>',
    '</body></html>',
  ].join('\n');
}

/**
 * The browser playground: GET / (the page), /playground/app.js and /playground/styles.css, from
 * `dir` (default dist/playground, built by scripts/build-playground.mjs). Public — the page sends
 * the key on its API calls — and hidden from OpenAPI. Without a build, these answer 503 saying how
 * to build; the service runs on regardless.
 */
export const playgroundRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, options) => {
  const dir = options.dir ?? DEFAULT_PLAYGROUND_DIR;
  const assets = loadAssets(dir);
  if (assets instanceof Error) app.log.warn({ dir, reason: assets.message }, 'playground not built: GET / answers 503; run `npm run build`');

  const headers = (reply: FastifyReply, type: string): FastifyReply =>
    reply.header('content-type', type).header('cache-control', 'no-cache').header('content-security-policy', PLAYGROUND_CSP);

  const serve = (url: Url) => async (request: FastifyRequest, reply: FastifyReply) => {
    if (assets instanceof Error) {
      const wantsHtml = url === '/' && /text\/html/.test(request.headers.accept ?? '');
      if (wantsHtml) return headers(reply, 'text/html; charset=utf-8').status(503).send(notBuiltPage());
      return reply.status(503).send(errorBody(new ApiError('not_ready', NOT_BUILT), request.id));
    }
    const asset = assets.get(url)!;
    headers(reply, asset.type).header('etag', asset.etag);
    if (matchesEtag(request.headers['if-none-match'], asset.etag)) return reply.status(304).send();
    return reply.send(asset.body);
  };

  for (const url of Object.keys(FILES) as Url[]) {
    app.get(url, { config: { public: true }, schema: { hide: true } }, serve(url));
  }
};
