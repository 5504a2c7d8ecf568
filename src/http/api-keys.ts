import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Holds only hashes of the configured keys. A caller's identity (the session owner) is the hex
 * hash of its key, so the store never sees a key in plain text.
 */
export class ApiKeys {
  private readonly hashes: Buffer[];
  constructor(keys: readonly string[]) {
    this.hashes = keys.map(sha256);
  }

  /** The owner id for a valid key, else undefined. Every configured key is compared, in constant time. */
  authenticate(key: string | undefined): string | undefined {
    if (!key) return undefined;
    const candidate = sha256(key);
    let match: Buffer | undefined;
    for (const h of this.hashes) if (timingSafeEqual(h, candidate)) match = h;
    return match?.toString('hex');
  }
}

/** A key for operators who set none: 192 bits, URL-safe, recognisable by its prefix. */
export function generateApiKey(): string {
  return `aak_${randomBytes(24).toString('base64url')}`;
}
