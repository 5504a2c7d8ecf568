/**
 * The import rules of docs/ARCHITECTURE.md as code: reads every module under a source root with
 * the TypeScript parser and reports each import the layer table does not allow, and every cycle.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export type Layer = 'core' | 'agent' | 'store' | 'runs' | 'http' | 'telemetry' | 'client' | 'cli' | 'playground' | 'root';

export interface ModuleImport {
  from: string; // path relative to the source root, e.g. 'agent/agent.ts'
  specifier: string;
  /** The imported module relative to the root, for relative specifiers; undefined for packages. */
  target: string | undefined;
  /** `import type` / `export type`: erased from the JavaScript, so nothing happens at run time. */
  typeOnly: boolean;
}

/** Which layers each layer may import at run time, and which only as types. */
export const LAYER_RULES: Record<Layer, { runtime: Layer[]; types: Layer[] }> = {
  core: { runtime: ['core'], types: ['core'] },
  agent: { runtime: ['core', 'agent'], types: ['core', 'agent'] },
  store: { runtime: ['core', 'store'], types: ['core', 'store'] },
  runs: { runtime: ['core', 'agent', 'store', 'runs'], types: ['core', 'agent', 'store', 'runs'] },
  http: { runtime: ['core', 'agent', 'store', 'runs', 'http'], types: ['core', 'agent', 'store', 'runs', 'http'] },
  // The trace SDK's set-up: everything else reaches traces through @opentelemetry/api alone.
  telemetry: { runtime: ['telemetry'], types: ['telemetry'] },
  // Browser-safe: the wire types come from the server's schemas, but only as types.
  client: { runtime: ['client'], types: ['client', 'core', 'http'] },
  cli: { runtime: ['cli', 'client'], types: ['cli', 'client'] },
  playground: { runtime: ['playground', 'client'], types: ['playground', 'client'] },
  root: { runtime: ['core', 'agent', 'store', 'runs', 'http', 'telemetry', 'root'], types: ['core', 'agent', 'store', 'runs', 'http', 'telemetry', 'root'] },
};

/** Single modules a layer may import at run time beyond its table row, each for a stated reason. */
export const RUNTIME_EXCEPTIONS: Record<string, string> = {
  // The error registry is plain data with no imports: the client derives its error classes from it.
  'client -> core/error-codes.ts': 'plain data',
  // `agent-api serve` starts the service exactly as `npm start` does.
  'cli -> main.ts': 'serve',
};

/** Packages a layer may import at run time (node: built-ins count as packages named node:*). */
export const PACKAGE_RULES: Partial<Record<Layer, (pkg: string) => boolean>> = {
  core: (pkg) => pkg === 'zod',
  // node:http(s) carry the model requests (agent/node-fetch.ts): the provider's transport, not a server.
  // @opentelemetry/api (the API, never the SDK) for the spans of model and tool calls: a no-op until an SDK is registered.
  agent: (pkg) => pkg === 'zod' || pkg === 'ai' || pkg.startsWith('@ai-sdk/') || pkg === 'node:http' || pkg === 'node:https' || pkg === '@opentelemetry/api',
  store: (pkg) => ['kysely', 'pg', 'better-sqlite3', 'ioredis'].includes(pkg) || pkg.startsWith('node:'),
  runs: (pkg) => pkg.startsWith('node:'),
  telemetry: (pkg) => pkg.startsWith('@opentelemetry/'),
  client: () => false,
  playground: () => false,
};

export function layerOf(path: string): Layer {
  const first = path.split('/')[0];
  if (!path.includes('/')) return 'root';
  if (
    first === 'core' ||
    first === 'agent' ||
    first === 'store' ||
    first === 'runs' ||
    first === 'http' ||
    first === 'telemetry' ||
    first === 'client' ||
    first === 'cli' ||
    first === 'playground'
  ) {
    return first;
  }
  throw new Error(`${path}: a folder the import rules do not know (add it to docs/ARCHITECTURE.md and LAYER_RULES)`);
}

function listModules(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listModules(root, path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(relative(root, path).split('\\').join('/'));
  }
  return out.sort();
}

function packageName(specifier: string): string {
  if (specifier.startsWith('node:')) return specifier;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** Every static import/export-from and dynamic import() of one module. */
export function importsOf(root: string, from: string): ModuleImport[] {
  const text = readFileSync(join(root, from), 'utf8');
  const source = ts.createSourceFile(from, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: ModuleImport[] = [];
  const add = (specifier: string, typeOnly: boolean) => {
    const target = specifier.startsWith('.')
      ? relative(root, resolve(root, dirname(from), specifier.replace(/\.js$/, '.ts')))
          .split('\\')
          .join('/')
      : undefined;
    found.push({ from, specifier, target, typeOnly });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.importClause?.isTypeOnly ?? false);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteral(arg)) add(arg.text, false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every import that breaks the rules, as one line each; empty when the tree is clean. */
export function importViolations(root: string): string[] {
  const modules = listModules(root);
  const known = new Set(modules);
  const violations: string[] = [];
  const graph = new Map<string, string[]>();
  for (const from of modules) {
    const layer = layerOf(from);
    const edges: string[] = [];
    for (const imp of importsOf(root, from)) {
      if (imp.target === undefined) {
        const pkg = packageName(imp.specifier);
        const allowed = PACKAGE_RULES[layer];
        if (!imp.typeOnly && allowed && !allowed(pkg)) violations.push(`${from}: ${layer} may not import the package '${pkg}' at run time`);
        continue;
      }
      if (!known.has(imp.target)) {
        violations.push(`${from}: '${imp.specifier}' resolves to no module under the source root`);
        continue;
      }
      edges.push(imp.target);
      const to = layerOf(imp.target);
      const rules = LAYER_RULES[layer];
      const ok = imp.typeOnly ? rules.types.includes(to) : rules.runtime.includes(to) || `${layer} -> ${imp.target}` in RUNTIME_EXCEPTIONS;
      if (!ok) violations.push(`${from}: ${layer} may not import ${imp.target} (${to})${imp.typeOnly ? '' : ' at run time'}`);
    }
    graph.set(from, edges);
  }
  for (const cycle of findCycles(graph)) violations.push(`cycle: ${cycle.join(' -> ')}`);
  return violations;
}

/** One cycle per strongly connected group of modules (type-only imports included). */
export function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      const s = state.get(next);
      if (s === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}
