/**
 * A tiny run of `bench/run.ts --quick` (seconds, small N): proves the benchmark still starts every
 * server it compares (our production build, embedded and with Redis, the seed's FastAPI app, the
 * node:http floor, the fake upstream) and measures every scenario without errors. The numbers
 * themselves are not checked: benchmarks are not tests. The "before" builds of scenarios b and g
 * (the service built from an old commit) are not made in --quick runs: their rows say so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const ROOT = new URL('..', import.meta.url).pathname;

test('npm run bench -- --quick measures every scenario against every reference', { timeout: 180_000 }, async () => {
  assert.ok(existsSync(join(ROOT, 'dist/index.js')), 'dist/ is missing: npm ci (or npm run build) builds it');
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  try {
    const out = join(dir, 'report.md');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', out], {
      cwd: ROOT,
      maxBuffer: 1 << 24,
    });
    const rows = stdout
      .split('\n')
      .filter((l) => /^\| [a-h]\. /.test(l))
      .map((l) => l.split('|').map((c) => c.trim()));
    for (const scenario of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
      assert.ok(
        rows.some((r) => r[1]?.startsWith(`${scenario}.`)),
        `scenario ${scenario} has a row`,
      );
    for (const server of [
      'agent-api',
      'seed (FastAPI)',
      'node:http floor',
      'direct to fake upstream',
      'AI SDK streamText alone → fake',
      'after, embedded (SQLite)',
      'after, Redis',
    ]) {
      assert.ok(
        rows.some((r) => r[2] === server),
        `a row for ${server}`,
      );
    }
    for (const r of rows) {
      // --quick does not build the old commits scenarios b and g compare with: their rows say so.
      if (r[3]?.startsWith('unavailable: --quick')) continue;
      assert.equal(r[6], '0', `no errors in: ${r.join(' | ')}`);
      assert.match(r[3] ?? '', /\d/, `a measured result in: ${r.join(' | ')}`);
    }
    assert.match(stdout, /\| Target \| Measured \| Met \|/);
    assert.match(readFileSync(out, 'utf8'), /^# Benchmarks/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
