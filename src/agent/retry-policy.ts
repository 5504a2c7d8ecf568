import { APICallError } from 'ai';

export interface RetryPolicy {
  /** Further attempts after the first one fails. */
  maxRetries: number;
  /** The first backoff; each later one doubles (with jitter). */
  baseDelayMs: number;
  /** A provider asking us to wait longer than this is not waited for: the run fails at once. */
  maxRetryAfterMs: number;
}

/** The delay the provider asked for, from `retry-after-ms` or `retry-after` (seconds or an HTTP date). */
export function retryAfterMs(error: unknown): number | undefined {
  if (!APICallError.isInstance(error)) return undefined;
  const headers = error.responseHeaders ?? {};
  const header = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  const ms = Number(header('retry-after-ms'));
  if (header('retry-after-ms') !== undefined && Number.isFinite(ms) && ms >= 0) return ms;
  const value = header('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

export function isRetryable(error: unknown): boolean {
  return APICallError.isInstance(error) && error.isRetryable;
}

/** How long to wait before attempt `attempt + 1` (attempt counts from 0), or undefined to give up. */
export function retryDelay(policy: RetryPolicy, attempt: number, error: unknown): number | undefined {
  if (attempt >= policy.maxRetries || !isRetryable(error)) return undefined;
  const asked = retryAfterMs(error);
  if (asked !== undefined) return asked <= policy.maxRetryAfterMs ? asked : undefined;
  const backoff = policy.baseDelayMs * 2 ** attempt;
  return backoff / 2 + Math.random() * (backoff / 2);
}
