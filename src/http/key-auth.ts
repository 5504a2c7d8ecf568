import { createHash, timingSafeEqual } from 'node:crypto';
import { RunError } from '../runs/run-error.js';
import type { ApiKeyRecord, KeyStore } from '../store/key-store.js';
import { ApiKeys } from './api-keys.js';

/** Who is calling: the owner of what it makes, and what the key may do. */
export interface Caller {
  /** The hex sha256 of the key. */
  owner: string;
  /** The ADMIN_API_KEY: every route, every key's usage. */
  admin: boolean;
  /** A managed key's record, as read for this request. */
  managed?: ApiKeyRecord;
}

/** How often a managed key's `last_used_at` is written at most: a write per request would cost more than the lookup. */
const TOUCH_EVERY_MS = 60_000;

/** How long a record read at authentication serves the budget check of the run it starts. */
const JUST_READ_MS = 1000;

const sha256Hex = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * Authenticates every request: VALID_API_KEYS and ADMIN_API_KEY in memory (constant-time), then
 * managed keys by their hash in the store, on every request. No positive cache: a revoke takes
 * effect on the next request on every worker and replica, for one indexed lookup per request
 * (microseconds on SQLite, well under a millisecond on Postgres).
 */
export class KeyAuth {
  private readonly envKeys: ApiKeys;
  private readonly admin: { hash: Buffer; owner: string } | undefined;
  /** Owners whose keys live in memory: never looked up for a budget. */
  private readonly memoryOwners: Set<string>;
  /**
   * The record each managed key's last request read, for the budget check of the run that request
   * starts a moment later (a second read of the same row was a measurable part of a turn). One
   * entry per managed key at most, and only keys that exist get one.
   */
  private readonly justRead = new Map<string, { key: ApiKeyRecord; at: number }>();

  constructor(
    envKeys: readonly string[],
    adminKey: string | undefined,
    private readonly store: KeyStore,
    private readonly onTouchError: (err: unknown) => void,
  ) {
    this.envKeys = new ApiKeys(envKeys);
    const adminHash = adminKey === undefined ? undefined : createHash('sha256').update(adminKey, 'utf8').digest();
    this.admin = adminHash && { hash: adminHash, owner: adminHash.toString('hex') };
    this.memoryOwners = new Set(envKeys.map(sha256Hex));
    if (this.admin) this.memoryOwners.add(this.admin.owner);
  }

  /** Whether ADMIN_API_KEY is set (the admin routes answer). */
  get adminEnabled(): boolean {
    return this.admin !== undefined;
  }

  /** The caller for a key; `revoked` for a managed key that was revoked; undefined for an unknown key. */
  async authenticate(key: string | undefined): Promise<Caller | 'revoked' | undefined> {
    if (!key) return undefined;
    const owner = this.envKeys.authenticate(key);
    if (owner) return { owner, admin: false };
    if (this.admin && timingSafeEqual(this.admin.hash, createHash('sha256').update(key, 'utf8').digest())) return { owner: this.admin.owner, admin: true };
    const hash = sha256Hex(key);
    const managed = await this.store.keyByHash(hash);
    if (!managed) return undefined;
    if (managed.revoked_at !== null) return 'revoked';
    this.justRead.set(hash, { key: managed, at: Date.now() });
    await this.touch(managed);
    return { owner: hash, admin: false, managed };
  }

  /** Refuses a run for a managed key whose recorded usage has reached its token budget. */
  async admit(owner: string): Promise<void> {
    if (this.memoryOwners.has(owner)) return;
    const read = this.justRead.get(owner);
    // Read for this very request (a run starts right after its request is authenticated); older,
    // and the row is read again, so a raised budget or recorded usage is seen.
    const key = read && Date.now() - read.at < JUST_READ_MS ? read.key : await this.store.keyByHash(owner);
    if (!key || key.token_budget === null || key.tokens_used < key.token_budget) return;
    throw new RunError(
      'budget_exceeded',
      `This key ('${key.name}') has used ${key.tokens_used} of its budget of ${key.token_budget} tokens; an admin can raise it or issue another key`,
      { token_budget: key.token_budget, tokens_used: key.tokens_used },
    );
  }

  /** Writes `last_used_at` when it is older than TOUCH_EVERY_MS; a failure is logged, the request goes on. */
  private async touch(key: ApiKeyRecord): Promise<void> {
    const now = Date.now();
    if (key.last_used_at !== null && now - Date.parse(key.last_used_at) < TOUCH_EVERY_MS) return;
    try {
      await this.store.touchKey(key.id, new Date(now).toISOString());
    } catch (err) {
      this.onTouchError(err);
    }
  }
}
