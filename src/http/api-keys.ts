import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Holds only hashes of the configured keys. A caller's identity (the session owner) is the hex
 * hash of its key, so the store never sees a key in plain text.
 */
export class ApiKeys {
  private readonly hashes: Buffer[];
  /** The owner id of each key, made once: every request (and its run) shares it instead of holding its own copy. */
  private readonly owners: string[];
  constructor(keys: readonly string[]) {
    this.hashes = keys.map(sha256);
    this.owners = this.hashes.map((h) => h.toString('hex'));
  }

  /** The owner id for a valid key, else undefined. Every configured key is compared, in constant time. */
  authenticate(key: string | undefined): string | undefined {
    if (!key) return undefined;
    const candidate = sha256(key);
    let match: string | undefined;
    for (const [i, h] of this.hashes.entries()) if (timingSafeEqual(h, candidate)) match = this.owners[i];
    return match;
  }
}

/** A key for operators who set none: 192 bits, URL-safe, recognisable by its prefix. */
export function generateApiKey(): string {
  return `aak_${randomBytes(24).toString('base64url')}`;
}
