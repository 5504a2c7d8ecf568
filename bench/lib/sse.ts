import http from 'node:http';
import { percentile } from './load.js';
import { signalTree, type Server } from './processes.js';

const TOKEN = /"type":\s*"token"/g;

export interface StreamTiming {
  /** Request sent → first token event received, ms. */
  ttft: number;
  /** Tokens per second over the whole reply, request sent → stream ended. */
  tokensPerSecond: number;
  tokens: number;
}

function streamOnce(url: string, headers: Record<string, string>, body: string, agent: http.Agent): Promise<StreamTiming> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let first: bigint | undefined;
    let tokens = 0;
    let tail = '';
    const req = http.request(url, { method: 'POST', headers, agent }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        // Count on event boundaries so a token split across reads is counted once.
        const text = tail + chunk;
        const cut = text.lastIndexOf('\n\n');
        const whole = cut < 0 ? '' : text.slice(0, cut);
        tail = cut < 0 ? text : text.slice(cut + 2);
        const n = whole.match(TOKEN)?.length ?? 0;
        if (n > 0 && first === undefined) first = process.hrtime.bigint();
        tokens += n;
      });
      res.on('end', () => {
        const end = process.hrtime.bigint();
        const totalMs = Number(end - started) / 1e6;
        resolve({ ttft: Number((first ?? end) - started) / 1e6, tokensPerSecond: (tokens / totalMs) * 1000, tokens });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface StreamStats {
  ttftP50: number;
  ttftP99: number;
  tokensPerSecond: number;
  tokensPerReply: number;
  errors: number;
}

/** Sequential streams; medians of time-to-first-token and of delivered tokens/s. */
export async function measureStreams(url: string, headers: Record<string, string>, body: string, count: number): Promise<StreamStats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const runs: StreamTiming[] = [];
  let errors = 0;
  for (let i = 0; i < count + 1; i++) {
    try {
      const t = await streamOnce(url, headers, body, agent);
      if (i > 0) runs.push(t); // the first is warm-up
    } catch {
      errors++;
    }
  }
  agent.destroy();
  const ttft = runs.map((r) => r.ttft).sort((a, b) => a - b);
  const tps = runs.map((r) => r.tokensPerSecond).sort((a, b) => a - b);
  return { ttftP50: percentile(ttft, 50), ttftP99: percentile(ttft, 99), tokensPerSecond: percentile(tps, 50), tokensPerReply: runs[0]?.tokens ?? 0, errors };
}

export interface HeldStreams {
  open: number;
  errors: number;
  /** Streams opened and not ended since: a server that fails a stream after its first bytes ends it early. */
  stillOpen(): number;
  closeAll(): Promise<void>;
}

/**
 * Opens `n` streams and keeps them open. A stream counts as open once its first bytes arrive.
 * Source addresses rotate over 127.0.0.2–127.0.0.250 so tens of thousands of connections never
 * exhaust one address's ephemeral ports.
 */
export async function holdStreams(url: string, headers: Record<string, string>, body: string, n: number, batch = 250): Promise<HeldStreams> {
  const requests: http.ClientRequest[] = [];
  let open = 0;
  let errors = 0;
  let ended = 0;
  const openOne = (i: number) =>
    new Promise<void>((resolve) => {
      const req = http.request(url, { method: 'POST', headers, agent: false, localAddress: `127.0.0.${2 + (i % 249)}` }, (res) => {
        if (res.statusCode !== 200) {
          errors++;
          res.resume();
          return resolve();
        }
        res.once('data', () => {
          req.setTimeout(0); // held streams may go quiet (the seed sends no heartbeat)
          open++;
          resolve();
        });
        res.on('data', () => {});
        res.on('end', () => ended++);
        res.on('error', () => {});
      });
      req.setTimeout(30_000, () => {
        errors++;
        req.destroy();
        resolve();
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
      requests.push(req);
    });
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => openOne(i + j)));
  }
  return {
    open,
    errors,
    stillOpen: () => open - ended,
    async closeAll() {
      for (const r of requests) r.destroy();
      await new Promise((r) => setTimeout(r, 500));
    },
  };
}

export interface StreamMemory {
  open: number;
  errors: number;
  /** (RSS with the streams open − RSS before them) / open streams, in bytes. */
  perStream: number;
  /** RSS with the streams open. */
  rss: number;
}

/**
 * Memory per open stream on a running server: `n` streams held, RSS compared with the RSS before
 * them. With `gc`, the server is sent SIGUSR2 before each reading (our bench server then runs a
 * full GC), so both readings count retained memory, not garbage V8 has not yet collected.
 */
export async function memoryPerStream(
  server: Server,
  headers: Record<string, string>,
  body: string,
  n: number,
  { gc }: { gc: boolean },
): Promise<StreamMemory> {
  const url = `${server.url}/chat/stream`;
  const settledRss = async () => {
    if (gc) signalTree(server.pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 1000));
    return server.rss();
  };
  // Warm up (JIT, pools, first session) before the baseline.
  const warm = await holdStreams(url, headers, body, 20);
  await warm.closeAll();
  const before = await settledRss();
  const held = await holdStreams(url, headers, body, n);
  const after = await settledRss();
  const open = held.stillOpen();
  await held.closeAll();
  return { open, errors: n - open, perStream: (after - before) / Math.max(1, open), rss: after };
}
