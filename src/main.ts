#!/usr/bin/env node
import cluster, { type Worker } from 'node:cluster';
import { ConfigError, loadConfig, loadDotEnv, type Config } from './config.js';
import type { AddressInfo } from 'node:net';
import { firstRunKey, type KeyOrigin } from './first-run-key.js';
import { listenError } from './listen-error.js';
import { createAgentServer } from './server.js';
import { displayUrl, startBanner } from './start-banner.js';
import { VERSION } from './version.js';
import { openConfiguredStore } from './open-configured-store.js';
import { readAgentsFile } from './agents-file.js';
import { answerWorkerMetrics } from './http/metrics/cluster-metrics.js';

function fail(err: unknown): never {
  process.stderr.write(`${err instanceof ConfigError ? err.message : `Failed to start: ${(err as Error)?.stack ?? String(err)}`}\n`);
  process.exit(1);
}

function printBanner(config: Config, port: number, keys: KeyOrigin): void {
  process.stderr.write(startBanner(VERSION, displayUrl(config.HOST, port), keys));
}

async function runServer(config: Config, migrate: boolean, keys?: KeyOrigin): Promise<void> {
  const server = await createAgentServer({ config, migrate, metricsFromPrimary: cluster.isWorker });
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
  try {
    await server.listen();
  } catch (err) {
    throw listenError(err, config) ?? err;
  }
  if (keys) printBanner(config, (server.app.server.address() as AddressInfo).port, keys);
}

async function runPrimary(config: Config, keys: KeyOrigin): Promise<void> {
  // A bad AGENTS_FILE stops the start here, once, rather than in every worker over and over.
  if (config.AGENTS_FILE) readAgentsFile(config.AGENTS_FILE);
  // Migrate once here so workers never race each other on the schema; opening the store also
  // checks that the database and Redis answer, so a backend that is down stops the start here
  // instead of in every worker, over and over.
  await (await openConfiguredStore(config)).close();
  answerWorkerMetrics();
  let stopping = false;
  let alive = 0;
  // Workers that exited before listening, with no worker coming up in between. More of them than
  // there are workers means even the replacements, a second later, failed the same way: forking
  // more would only repeat it.
  let failedStarts = 0;
  const listened = new WeakSet<Worker>();
  const fork = () => {
    alive++;
    cluster.fork();
  };
  for (let i = 0; i < config.WORKERS; i++) fork();
  let announced = false;
  cluster.on('listening', (worker, address) => {
    // Once, when the first worker listens: the workers share the port and the key.
    if (!announced) printBanner(config, address.port, keys);
    announced = true;
    listened.add(worker);
    failedStarts = 0;
  });
  cluster.on('exit', (worker, code, signal) => {
    alive--;
    if (stopping) {
      if (alive === 0) process.exit(0);
      return;
    }
    if (!listened.has(worker) && ++failedStarts > config.WORKERS) {
      stopping = true;
      process.stderr.write(
        `workers keep failing to start (${failedStarts} in a row exited before listening, the last with ${signal ?? `exit code ${code}`}); not starting more\n`,
      );
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      process.exit(1);
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
  // The primary settles any missing key before forking; workers inherit it through the environment.
  const keys = cluster.isPrimary ? firstRunKey(config) : undefined;
  if (keys && config.WORKERS > 1) await runPrimary(config, keys);
  else await runServer(config, cluster.isPrimary, keys);
}

main().catch(fail);
