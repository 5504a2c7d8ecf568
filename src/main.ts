#!/usr/bin/env node
import cluster from 'node:cluster';
import { ConfigError, loadConfig, loadDotEnv, type Config } from './config.js';
import { createAgentServer, ensureApiKeys } from './server.js';
import { openStore } from './store/open-store.js';

function fail(err: unknown): never {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `Failed to start: ${(err as Error)?.stack ?? String(err)}`}\n`);
  process.exit(1);
}

async function runServer(config: Config, migrate: boolean): Promise<void> {
  const server = await createAgentServer({ config, migrate });
  const stop = (signal: string) => {
    server.app.log.info({ signal }, 'shutting down');
    server.close().then(
      () => process.exit(0),
      (err) => {
        server.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await server.listen();
}

async function runPrimary(config: Config): Promise<void> {
  // Migrate once here so workers never race each other on the schema.
  await (await openStore(config.DATABASE_URL)).close();
  let stopping = false;
  let alive = 0;
  const fork = () => {
    alive++;
    cluster.fork();
  };
  for (let i = 0; i < config.WORKERS; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    alive--;
    if (stopping) {
      if (alive === 0) process.exit(0);
      return;
    }
    process.stderr.write(`worker ${worker.process.pid} exited (${signal ?? code}); starting another\n`);
    // A replacement due after shutdown began would never be told to stop, and the primary would wait for it.
    setTimeout(() => {
      if (!stopping) fork();
    }, 1000);
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (alive === 0) process.exit(0); // every worker had died and none is due any more
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    // Workers enforce the grace period themselves; this only guards against one that hangs.
    setTimeout(() => process.exit(1), config.SHUTDOWN_GRACE_MS + 5000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  loadDotEnv();
  const config = loadConfig();
  // The primary generates any missing key before forking; workers inherit it through the environment.
  if (cluster.isPrimary) ensureApiKeys(config);
  if (cluster.isPrimary && config.WORKERS > 1) await runPrimary(config);
  else await runServer(config, cluster.isPrimary);
}

main().catch(fail);
