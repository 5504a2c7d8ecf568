import { randomFillSync } from 'node:crypto';

const bytes = Buffer.alloc(16);

/**
 * A version 7 UUID (RFC 9562): 48 bits of Unix time in ms, then 74 random bits. Ids made one after
 * another sort by time, so the indexes keyed by them (runs, their event log, sessions' messages)
 * grow at one end instead of taking writes all over the tree: measured, half the cost of a run's
 * inserts in SQLite compared with random (v4) ids.
 */
export function uuidv7(): string {
  randomFillSync(bytes);
  bytes.writeUIntBE(Date.now(), 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
