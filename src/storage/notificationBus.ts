import { sql } from 'kysely';
import { dbOf } from './internal/handles.js';
import type { Reader } from './unit.js';
import pg from 'pg';

/** How a process's LISTEN connection shows in pg_stat_activity (operators and tests find it by this). */
export function listenApplicationName(pid = process.pid): string {
  return `vdpa-compute listen ${pid}`;
}

export interface NotificationBusOptions {
  /** The LISTEN connection is back after a drop: whatever was sent meanwhile never arrived. */
  onReconnect?: () => void;
  /** The LISTEN connection dropped or could not be made (it is retried), or a send failed. */
  onError?: (err: Error, what: 'listen' | 'publish') => void;
  /** First wait before reconnecting; it doubles up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * PostgreSQL LISTEN/NOTIFY between the controller processes of one database.
 * Listening holds one dedicated connection (a pool connection would be handed
 * to other queries, and a LISTEN lasts only as long as its session); sending
 * goes through the pool, since a NOTIFY outside a transaction is delivered at
 * once and needs no connection of its own.
 */
export class NotificationBus {
  private readonly handlers = new Map<string, (payload: string) => void>();
  private client: pg.Client | null = null;
  private closed = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private wakeRetry: (() => void) | null = null;

  constructor(
    private readonly url: string,
    private readonly reader: Reader,
    private readonly o: NotificationBusOptions = {},
  ) {}

  /** Handles a channel's notifications; call before start(). */
  on(channel: string, handler: (payload: string) => void): this {
    this.handlers.set(channel, handler);
    return this;
  }

  /** Resolves once this process listens on every channel (retrying until it can, or until close()). */
  async start(): Promise<void> {
    await this.connect(false);
  }

  /**
   * One notification per payload, fire and forget: the caller is on a hot
   * path and a notification is a hint, so a failure is only reported.
   */
  publish(channel: string, payloads: string[]): void {
    if (this.closed || payloads.length === 0) return;
    sql`select pg_notify(${channel}, p) from unnest(${payloads}::text[]) as p`.execute(dbOf(this.reader))
      .catch((err: Error) => this.o.onError?.(err, 'publish'));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.wakeRetry?.();
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private async connect(reconnecting: boolean): Promise<void> {
    const min = this.o.minBackoffMs ?? 100;
    const max = this.o.maxBackoffMs ?? 5000;
    for (let delay = min; !this.closed; delay = Math.min(delay * 2, max)) {
      const client = new pg.Client({ connectionString: this.url, application_name: listenApplicationName(), keepAlive: true });
      // Without a listener an idle client's error (the backend terminated) would crash the process.
      client.on('error', (err) => this.lost(client, err));
      client.on('end', () => this.lost(client, new Error('connection ended')));
      try {
        await client.connect();
        for (const channel of this.handlers.keys()) await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
      } catch (err) {
        client.removeAllListeners('end');
        await client.end().catch(() => undefined);
        this.o.onError?.(err as Error, 'listen');
        await this.pause(delay * (0.5 + Math.random() / 2));
        continue;
      }
      if (this.closed) {
        await client.end().catch(() => undefined);
        return;
      }
      client.on('notification', (m) => this.handlers.get(m.channel)?.(m.payload ?? ''));
      this.client = client;
      if (reconnecting) this.o.onReconnect?.();
      return;
    }
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    client.end().catch(() => undefined);
    if (this.closed) return;
    this.o.onError?.(err, 'listen');
    void this.connect(true);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeRetry = () => {
        this.wakeRetry = null;
        resolve();
      };
      this.retryTimer = setTimeout(this.wakeRetry, ms);
      this.retryTimer.unref?.();
    });
  }
}
