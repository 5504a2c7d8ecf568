/**
 * The deploy files against the service: every variable compose.yaml, the Kubernetes manifests and
 * the Dockerfile set is one src/config.ts reads (a typo would be ignored silently at run time),
 * compose.yaml offers every setting of the README's table, the values they set pass the service's
 * own validation, and probes and grace periods fit the service. No container engine is needed.
 * YAML is read with `yaml`, already installed (a dependency of @fastify/swagger).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, SETTING_NAMES } from '../src/config.js';
import { REPO_ROOT } from './support/child-service.js';
import { instructions, parseDockerfile, stageEnv } from './support/dockerfile.js';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const settings = new Set(SETTING_NAMES);

/** Variables named in the README's configuration table (its rows start with | `NAME` |). */
function readmeSettings(): string[] {
  const section =
    read('README.md')
      .split(/^## Configuration$/m)[1]
      ?.split(/^#{2,3} /m)[0] ?? '';
  return [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1]!);
}

/** What a compose value becomes when the shell sets nothing: `${X:-d}` → d, `${X:?msg}` → a stand-in. */
function composeDefault(value: string, standIn: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::?([-?]))?([^}]*)\}/g, (_m, _name: string, op: string | undefined, rest: string) =>
    op === '-' ? rest : op === '?' ? standIn : '',
  );
}

/** Compose durations as seconds: 30s, 1m30s, 500ms. */
function durationSeconds(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  }
  return total;
}

function notRead(names: Iterable<string>): string[] {
  return [...names].filter((n) => !settings.has(n));
}

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string | number>;
  deploy?: { replicas?: number };
  stop_grace_period?: string;
  volumes?: string[];
  depends_on?: Record<string, unknown> | string[];
}

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml')) as { services: Record<string, ComposeService> };
  const api = compose.services['agent-api']!;
  const env = Object.fromEntries(Object.entries(api.environment ?? {}).map(([k, v]) => [k, String(v)]));

  test('the service list: agent-api in 2 replicas, Postgres, Redis and nginx', () => {
    assert.ok(api.build !== undefined, 'agent-api is built from the Dockerfile');
    assert.equal(api.deploy?.replicas, 2);
    assert.deepEqual(Object.keys(compose.services).sort(), ['agent-api', 'nginx', 'postgres', 'redis']);
    assert.deepEqual(compose.services['nginx']!.volumes, ['./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro']);
    read('deploy/nginx/nginx.conf'); // the mounted file exists
  });

  test('every variable it sets is one the service reads, and every setting of the README table is there', () => {
    assert.deepEqual(notRead(Object.keys(env)), [], 'variables the service never reads');
    const table = readmeSettings();
    assert.ok(table.length >= 20, `the README table was found (${table.length} rows)`);
    assert.deepEqual(notRead(table), [], 'README rows that config.ts does not read');
    assert.deepEqual(
      table.filter((name) => !(name in env)),
      [],
      'README settings compose.yaml does not pass through',
    );
    assert.deepEqual(
      SETTING_NAMES.filter((name) => !(name in env)),
      [],
      'settings compose.yaml does not pass through',
    );
  });

  test('its defaults are a valid configuration for replicas: Postgres and Redis of the compose file, a required key', () => {
    const values = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, composeDefault(v, 'a-key-from-the-shell')]));
    const config = loadConfig(values);
    assert.match(config.DATABASE_URL, /^postgres:\/\/[^@]+@postgres:5432\//, 'replicas share Postgres, not a SQLite file each');
    assert.equal(config.REDIS_URL, 'redis://redis:6379');
    assert.equal(config.PORT, 8000);
    // Each replica would generate its own key otherwise, and nginx spreads requests over them.
    assert.match(env['VALID_API_KEYS']!, /^\$\{VALID_API_KEYS:\?/);
    assert.match(read('deploy/nginx/nginx.conf'), new RegExp(`server agent-api:${config.PORT};`));
  });

  test('Docker waits longer than SHUTDOWN_GRACE_MS before killing a replica', () => {
    const graceMs = loadConfig({ SHUTDOWN_GRACE_MS: composeDefault(env['SHUTDOWN_GRACE_MS']!, '') }).SHUTDOWN_GRACE_MS;
    const stop = durationSeconds(api.stop_grace_period ?? '10s'); // Docker's default is 10 s
    assert.ok(stop > graceMs / 1000, `stop_grace_period ${stop} s > SHUTDOWN_GRACE_MS ${graceMs} ms`);
  });
});

interface K8sObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [field: string]: unknown;
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  ports: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string }>;
  envFrom?: Array<{ secretRef?: { name: string }; configMapRef?: { name: string } }>;
  readinessProbe: Probe;
  livenessProbe: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  containers: Container[];
}

describe('deploy/kubernetes', () => {
  const dir = join(REPO_ROOT, 'deploy', 'kubernetes');
  const objects = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJSON() as K8sObject));
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const deployment = byKind('Deployment')[0]!;
  const template = (deployment['spec'] as { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } }).template;
  const container = template.spec.containers[0]!;
  const secretName = container.envFrom?.find((e) => e.secretRef)?.secretRef?.name;
  const secret = byKind('Secret').find((s) => s.metadata.name === secretName);
  const secretData = (secret?.['stringData'] ?? {}) as Record<string, string>;
  const plainEnv = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));

  test('a Deployment, a Service and an example Secret for the keys', () => {
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['Deployment', 'Secret', 'Service']);
    assert.ok(secret, `the Deployment's envFrom names the example Secret (${secretName})`);
    assert.ok('VALID_API_KEYS' in secretData && 'LLM_API_KEY' in secretData, 'keys come from the Secret, not the manifest');
    assert.equal(plainEnv['VALID_API_KEYS'], undefined);
    assert.equal(plainEnv['LLM_API_KEY'], undefined);
  });

  test('every variable the Deployment and the Secret set is one the service reads, and together they are valid', () => {
    assert.deepEqual(notRead(Object.keys(plainEnv)), [], 'Deployment env the service never reads');
    assert.deepEqual(notRead(Object.keys(secretData)), [], 'Secret keys the service never reads');
    assert.deepEqual(
      container.envFrom?.filter((e) => !e.secretRef),
      [],
      'no other source of variables to check',
    );
    const config = loadConfig({ ...secretData, ...plainEnv });
    assert.equal(String(config.PORT), String(container.ports.find((p) => p.name === 'http')?.containerPort));
  });

  test('readiness on /ready, liveness on /health, on the container port', () => {
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    assert.equal(container.livenessProbe.httpGet.path, '/health');
    const names = container.ports.map((p) => p.name);
    assert.ok(names.includes(String(container.readinessProbe.httpGet.port)));
    assert.ok(names.includes(String(container.livenessProbe.httpGet.port)));
  });

  test('terminationGracePeriodSeconds is above the preStop pause plus SHUTDOWN_GRACE_MS', () => {
    const graceMs = loadConfig({ ...secretData, ...plainEnv }).SHUTDOWN_GRACE_MS;
    const preStop = container.lifecycle?.preStop;
    const pause = preStop?.sleep?.seconds ?? (preStop?.exec?.command[0] === 'sleep' ? Number(preStop.exec.command[1]) : 0);
    const termination = template.spec.terminationGracePeriodSeconds ?? 30; // Kubernetes' default
    assert.ok(termination > pause + graceMs / 1000, `${termination} s > ${pause} s + ${graceMs} ms`);
  });

  test('the Service selects the pods and targets the named port', () => {
    const service = byKind('Service')[0]!;
    const spec = service['spec'] as { selector: Record<string, string>; ports: Array<{ targetPort: string | number }> };
    for (const [k, v] of Object.entries(spec.selector)) assert.equal(template.metadata.labels[k], v);
    for (const p of spec.ports) assert.ok(container.ports.some((c) => c.name === p.targetPort || c.containerPort === p.targetPort));
  });
});

describe('Dockerfile', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const runtime = stages.at(-1)!;

  test('its ENV sets only variables the service reads, and the port it exposes is PORT', () => {
    const env = stageEnv(runtime);
    assert.deepEqual(notRead(Object.keys(env)), []);
    assert.equal(env['HOST'], '0.0.0.0', 'reachable from outside the container');
    assert.deepEqual(
      instructions(runtime, 'EXPOSE').map((i) => i.args),
      [env['PORT']],
    );
  });

  test('.dockerignore keeps secrets, dependencies and builds out of the context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const must of ['.env', 'node_modules', 'dist', 'data', '.git']) assert.ok(ignored.includes(must), must);
  });
});
