#!/usr/bin/env node
// Builds the browser playground into dist/playground/: main.ts (with the modules and the
// AgentClient it imports) bundled by esbuild into app.js, styles/index.css with the files it
// @imports bundled, in that order, into one styles.css, and index.html copied as it is. Run by
// `npm run build` and `prepare` (so `npm ci` produces it); the service serves these three files at GET /.
//
// The output is written to a temporary directory and swapped in at the end, so a service starting
// meanwhile sees either the old build or the new one, never half of one.
import { copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const src = join(root, 'src', 'playground');
const out = join(root, 'dist', 'playground');
const tmp = `${out}.tmp-${process.pid}`;

try {
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await build({
    entryPoints: [join(src, 'main.ts')],
    outfile: join(tmp, 'app.js'),
    bundle: true,
    format: 'esm',
    // The client is browser-safe by contract: a Node built-in reaching the bundle fails the build.
    platform: 'browser',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
  });
  // Not minified: the served CSS stays readable, rule for rule as in the source files.
  await build({
    entryPoints: [join(src, 'styles', 'index.css')],
    outfile: join(tmp, 'styles.css'),
    bundle: true,
    legalComments: 'none',
    charset: 'utf8',
    logLevel: 'warning',
  });
  await copyFile(join(src, 'index.html'), join(tmp, 'index.html'));
  await rm(out, { recursive: true, force: true });
  await rename(tmp, out);
  console.log(`playground built: ${out.slice(root.length + 1)}/{index.html,app.js,styles.css}`);
} catch (err) {
  await rm(tmp, { recursive: true, force: true });
  console.error(`build-playground: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
