/**
 * The library's surface: what `src/index.ts` exports at run time, and what its declaration files
 * bring into a consumer's program (emitted here in memory, as `npm run build` would write them).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import ts from 'typescript';
import { TSX_LOADER } from './support/child-service.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** The .d.ts files `tsc -p tsconfig.build.json` would write, by output path. */
function emitDeclarations(): Map<string, string> {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.build.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  assert.ok(parsed, 'tsconfig.build.json parses');
  const options = { ...parsed.options, emitDeclarationOnly: true, declaration: true, noEmit: false, sourceMap: false, declarationMap: false };
  const program = ts.createProgram(parsed.fileNames, options);
  const out = new Map<string, string>();
  const result = program.emit(undefined, (file, text) => out.set(normalize(file), text));
  assert.deepEqual(
    result.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    [],
  );
  return out;
}

/** Every emitted declaration a consumer loads, starting from `entry`, following relative imports. */
function reachable(files: Map<string, string>, entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const text = files.get(file);
    assert.ok(text !== undefined, `${file} was emitted`);
    seen.add(file);
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      visit(normalize(join(dirname(file), m[1]!.replace(/\.js$/, '.d.ts'))));
    }
  };
  visit(entry);
  return [...seen];
}

describe('public API', () => {
  test('src/index.ts exports exactly what a user needs at run time', async () => {
    const api = await import('../src/index.js');
    assert.deepEqual(Object.keys(api).sort(), [
      'AgentError',
      'ConfigError',
      'DEFAULT_INSTRUCTIONS',
      'createAgent',
      'createAgentServer',
      'createChatModel',
      'defaultTools',
      'errorRegistry',
      'loadConfig',
      'openStore',
      'tool',
    ]);
  });

  test("the declarations a consumer loads do not change Fastify's types, nor expose internals", () => {
    const files = emitDeclarations();
    const dist = join(ROOT, 'dist');
    for (const entry of ['index.d.ts', 'client/index.d.ts']) {
      const loaded = reachable(files, normalize(join(dist, entry)));
      for (const file of loaded) {
        const text = files.get(file)!;
        assert.doesNotMatch(text, /declare module ['"]fastify['"]/, `${file} augments fastify`);
        assert.doesNotMatch(text, /\b(KyselyStore|Transcript|TurnRunner|parseSessionCursor|parseDatabaseUrl)\b/, `${file} exposes an internal`);
      }
      if (entry.startsWith('client/')) {
        // Browser code: its declarations may name the server's wire types, never server modules.
        const serverSide = loaded.filter((f) => /[\\/](agent|store|cli|playground)[\\/]|[\\/](server|main|config)\.d\.ts$/.test(f.slice(dist.length)));
        assert.deepEqual(serverSide, [], 'the client declarations reach no server module');
      }
    }
  });
});

describe("the README's library snippet", () => {
  test('runs in another project that installed agent-api and zod, and stops cleanly on SIGTERM', async () => {
    assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is built (npm ci and npm run build do it)');
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('// server.ts');
    assert.ok(start > 0, 'the README has the server.ts snippet');
    const snippet = readme.slice(start, readme.indexOf('```', start));
    // A project of its own, with the two packages the README says to install.
    const dir = mkdtempSync(join(tmpdir(), 'agent-api-consumer-'));
    try {
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(ROOT, join(dir, 'node_modules', 'agent-api'), 'dir');
      symlinkSync(join(ROOT, 'node_modules', 'zod'), join(dir, 'node_modules', 'zod'), 'dir');
      writeFileSync(join(dir, 'server.ts'), snippet);
      const env = { PATH: process.env['PATH'], PORT: '0', HOST: '127.0.0.1', VALID_API_KEYS: 'k', DATABASE_URL: 'sqlite::memory:', LOG_LEVEL: 'warn' };
      const child = spawn(process.execPath, ['--import', TSX_LOADER, 'server.ts'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const deadline = Date.now() + 20_000;
      while (!/listening at (http:\/\/\S+)/.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) assert.fail(`the snippet did not start:\n${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /listening at (http:\/\/\S+)/.exec(out)![1]!;
      const health = (await (await fetch(`${url}/health`)).json()) as { status: string };
      assert.equal(health.status, 'healthy');
      const tools = await fetch(`${url}/chat`, { method: 'POST', headers: { 'x-api-key': 'k', 'content-type': 'application/json' }, body: '{}' });
      assert.equal(tools.status, 400, 'the served app validates as ours does');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, out);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
