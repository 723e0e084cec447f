import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';

/** Hosts whose devices, pools or claimed resources a committed write changed. */
export type DeviceChangeListener = (hosts: readonly string[]) => void;

/**
 * What the device writes (deviceWrites.ts) of one store changed, per host,
 * delivered once the transaction that made the change has committed: a
 * write rolled back (a unit that threw, a lost SQLite batch, a failed
 * PostgreSQL transaction) is never delivered. Only writes of this process
 * are seen; other processes' reach readers through the database.
 *
 * Claims whose caller takes the exact pool changes itself (the scheduler,
 * which settles its candidate index's reservation with them) are not
 * delivered: the caller already counted them.
 */
export class DeviceChangeFeed {
  private listeners: DeviceChangeListener[] = [];

  subscribe(listener: DeviceChangeListener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  /** Storage only: hosts changed by a committed transaction (or a write outside one). */
  publish(hosts: readonly string[]): void {
    if (hosts.length === 0) return;
    for (const l of this.listeners) {
      try {
        l(hosts);
      } catch {
        // A listener's failure is its own: the commit it reports stands.
      }
    }
  }
}

/**
 * The hosts changed by the transaction (or group-commit batch) open on one
 * handle: the running unit's, and those of the units before it that ended
 * well. Nothing is allocated until a unit changes something.
 */
export class PendingDeviceChanges {
  private unit: string[] | null = null;
  private kept: string[] | null = null;

  constructor(private readonly feed: DeviceChangeFeed) {}

  note(host: string): void {
    (this.unit ??= []).push(host);
  }

  /** The running unit ended well (its savepoint released): its changes wait for the commit. */
  unitDone(): void {
    if (this.unit === null) return;
    if (this.kept === null) this.kept = this.unit;
    else for (const h of this.unit) this.kept.push(h);
    this.unit = null;
  }

  /** The running unit was rolled back: its changes never happened. */
  unitUndone(): void {
    this.unit = null;
  }

  /** The transaction committed: every unit that ended well is delivered, each host once. */
  committed(): void {
    this.unitDone();
    if (this.kept !== null) this.feed.publish([...new Set(this.kept)]);
    this.kept = null;
  }
}

/** The store's feed of each database handle (openStore), for writes outside a transaction. */
const feeds = new WeakMap<Kysely<Database>, DeviceChangeFeed>();
/** The pending changes of the transaction open on a handle (Store.transact). */
const pending = new WeakMap<Kysely<Database>, PendingDeviceChanges>();

/** openStore: the feed of the store whose handle this is. */
export function attachDeviceChangeFeed(db: Kysely<Database>, feed: DeviceChangeFeed): void {
  feeds.set(db, feed);
}

/** Store.transact: the transaction `trx` collects its changes in `changes` until it commits. */
export function collectDeviceChanges(trx: Kysely<Database>, changes: PendingDeviceChanges): void {
  pending.set(trx, changes);
}

/** The feed of the store a handle belongs to, if any (a write that manages its own transaction publishes there). */
export function deviceChangeFeedOf(db: Kysely<Database>): DeviceChangeFeed | undefined {
  return feeds.get(db);
}

/**
 * A write on `db` changed a host's devices, pools or claimed resources.
 * Inside Store.transact it is delivered after the commit; outside any
 * transaction the write is already committed and it is delivered now. In a
 * transaction Store.transact did not open (db.transaction() in a test, say)
 * nobody knows when it commits: it is not delivered, and readers catch up
 * through the database (the candidate index's periodic reload).
 */
export function noteHostChanged(db: Kysely<Database>, host: string): void {
  if (db.isTransaction) pending.get(db)?.note(host);
  else feeds.get(db)?.publish([host]);
}
