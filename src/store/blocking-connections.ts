import type { Redis } from 'ioredis';

/**
 * A bounded pool of connections for blocking reads (XREAD BLOCK). A blocked connection serves
 * nothing else until Redis answers, so each waiter needs one of its own; opening one per wait
 * would cost a TCP (and TLS) handshake per wake-up and, with many followers, as many connections
 * as followers. The pool opens connections as they are needed, keeps them for reuse, and never
 * holds more than `max`: callers that find it full fall back to polling.
 */
export class BlockingConnections {
  private readonly idle: Redis[] = [];
  private readonly all = new Set<Redis>();
  private closed = false;

  constructor(
    private readonly source: Redis,
    private readonly max: number,
    private readonly connectionName: string,
  ) {}

  /** A connection for one blocking command, or undefined when `max` are in use (or the pool is closed). */
  take(): Redis | undefined {
    const free = this.idle.pop();
    if (free || this.closed || this.all.size >= this.max) return free;
    const connection = this.source.duplicate({ connectionName: this.connectionName, lazyConnect: false });
    // Errors reach the command that was waiting; the event would otherwise be printed by ioredis.
    connection.on('error', () => {});
    this.all.add(connection);
    return connection;
  }

  /** Hands a connection back once its command has been answered. */
  give(connection: Redis): void {
    if (this.closed) connection.disconnect();
    else this.idle.push(connection);
  }

  /** How many connections are open (busy or idle). */
  get size(): number {
    return this.all.size;
  }

  /** Closes every connection; commands still blocked on them are rejected. */
  close(): void {
    this.closed = true;
    for (const connection of this.all) connection.disconnect();
    this.all.clear();
    this.idle.length = 0;
  }
}
