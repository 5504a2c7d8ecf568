import http from 'node:http';
import autocannon from 'autocannon';

export interface RequestSpec {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

export interface Throughput {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
}

/** Saturating load from autocannon: throughput, with latency at millisecond resolution. */
export async function throughput(spec: RequestSpec, { connections, seconds }: { connections: number; seconds: number }): Promise<Throughput> {
  const r = await autocannon({
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: spec.headers ?? {},
    ...(spec.body === undefined ? {} : { body: spec.body }),
    connections,
    duration: seconds,
  });
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    requests: r.requests.total,
  };
}

export interface Latency {
  p50: number;
  p99: number;
  mean: number;
  errors: number;
  count: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * One request at a time on a keep-alive connection, timed with hrtime: the latency a single
 * caller sees, at sub-millisecond resolution (autocannon rounds to whole milliseconds).
 */
export async function sequentialLatency(spec: RequestSpec | (() => RequestSpec), { count, warmup }: { count: number; warmup: number }): Promise<Latency> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times: number[] = [];
  let errors = 0;
  for (let i = 0; i < warmup + count; i++) {
    const s = typeof spec === 'function' ? spec() : spec;
    const started = process.hrtime.bigint();
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request(s.url, { method: s.method ?? 'GET', headers: s.headers ?? {}, agent }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(s.body);
    }).catch(() => 0);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (i < warmup) continue;
    if (status < 200 || status >= 300) errors++;
    times.push(ms);
  }
  agent.destroy();
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), mean: times.reduce((a, b) => a + b, 0) / times.length, errors, count };
}
