/**
 * The layer table of docs/ARCHITECTURE.md, enforced: every import under src/ is checked against
 * it, cycles included. The second half proves the checker catches what it should.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { importViolations } from './support/import-graph.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** A throwaway source tree: path → contents. */
function tree(files: Record<string, string>): { root: string; remove(): void } {
  const root = mkdtempSync(join(tmpdir(), 'import-rules-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return { root, remove: () => rmSync(root, { recursive: true, force: true }) };
}

describe('import rules', () => {
  test('src/ follows the layer table and has no import cycle', () => {
    assert.deepEqual(importViolations(SRC), []);
  });

  test('an import of http from agent is caught, and so is one of a server package', () => {
    const t = tree({
      'agent/agent.ts': "import { ApiError } from '../http/errors.js';\nimport Fastify from 'fastify';\nexport const x = [ApiError, Fastify];\n",
      'http/errors.ts': 'export class ApiError extends Error {}\n',
    });
    try {
      assert.deepEqual(importViolations(t.root), [
        'agent/agent.ts: agent may not import http/errors.ts (http) at run time',
        "agent/agent.ts: agent may not import the package 'fastify' at run time",
      ]);
    } finally {
      t.remove();
    }
  });

  test('store may not reach http, the client may take server types but no server code, and cycles are reported', () => {
    const t = tree({
      'store/store.ts': "import type { ErrorBody } from '../http/schemas.js';\nexport type S = ErrorBody;\n",
      'http/schemas.ts': 'export type ErrorBody = { code: string };\n',
      'client/types.ts': "export type { ErrorBody } from '../http/schemas.js';\n",
      'client/chat.ts': "import { x } from '../http/a.js';\nimport 'node:fs';\nexport const y = x;\n",
      'http/a.ts': "import { b } from './b.js';\nexport const x = b;\n",
      'http/b.ts': "import { x } from './a.js';\nexport const b = () => x;\n",
    });
    try {
      assert.deepEqual(importViolations(t.root), [
        'client/chat.ts: client may not import http/a.ts (http) at run time',
        "client/chat.ts: client may not import the package 'node:fs' at run time",
        'store/store.ts: store may not import http/schemas.ts (http)',
        'cycle: http/a.ts -> http/b.ts -> http/a.ts',
      ]);
    } finally {
      t.remove();
    }
  });

  test('`import { type X }` still loads the module at run time (verbatimModuleSyntax), so it counts as a run-time import', () => {
    const t = tree({
      'client/chat.ts': "import { type ErrorBody } from '../http/schemas.js';\nexport type E = ErrorBody;\n",
      'http/schemas.ts': 'export type ErrorBody = { code: string };\n',
    });
    try {
      assert.deepEqual(importViolations(t.root), ['client/chat.ts: client may not import http/schemas.ts (http) at run time']);
    } finally {
      t.remove();
    }
  });
});
