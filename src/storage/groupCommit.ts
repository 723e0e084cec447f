import type BetterSqlite3 from 'better-sqlite3';
import { CompiledQuery, type Kysely } from 'kysely';
import { collectDeviceChanges, PendingDeviceChanges, type DeviceChangeFeed } from './devices/changeFeed.js';
import { execute } from './inTransaction.js';
import { unitOver } from './internal/handles.js';
import type { Database } from './schema.js';
import type { Unit } from './unit.js';

export type TransactionWork<T> = (unit: Unit) => Promise<T>;

interface QueuedUnit {
  work: TransactionWork<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const SAVEPOINT = CompiledQuery.raw('savepoint unit');
const RELEASE = CompiledQuery.raw('release unit');
const ROLLBACK_TO = CompiledQuery.raw('rollback to unit');

/** The batch's transaction ended under a unit (SQLite rolled it back itself): that unit's error is the cause. */
class BatchLost extends Error {}

/**
 * Group commit for the embedded SQLite database. A SQLite commit (WAL
 * append of every dirty page, checkpoints) costs more than the small
 * transactions it ends, and one connection runs them one at a time anyway.
 * Transactions asked for in the same event-loop turn run one after another
 * inside ONE database transaction, each within its own savepoint: a unit
 * that throws is rolled back to its savepoint alone and rejects with its
 * error; the others commit together. Every caller is answered only after
 * that commit, so nothing is reported done before it is durable, and
 * isolation is as before: units run strictly one after another.
 */
export function groupCommit(db: Kysely<Database>, sqlite: BetterSqlite3.Database, changes: DeviceChangeFeed, maxUnits = 256) {
  let queue: QueuedUnit[] = [];
  let scheduled = false;

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    // setImmediate runs after the poll phase: every request read in this turn has queued its unit by then.
    setImmediate(() => { void flush(); });
  };

  async function flush(): Promise<void> {
    const batch = queue.length > maxUnits ? queue.splice(0, maxUnits) : queue;
    if (batch === queue) queue = [];
    const outcomes: Outcome[] = [];
    let lostBy: unknown = undefined;
    // The device changes of the units that commit are delivered after the commit (devices/changeFeed.ts).
    const deviceChanges = new PendingDeviceChanges(changes);
    try {
      await db.transaction().execute(async (trx) => {
        collectDeviceChanges(trx, deviceChanges);
        const handle = unitOver(trx, false);
        for (const unit of batch) {
          await execute(trx, SAVEPOINT);
          try {
            const value = await unit.work(handle);
            await execute(trx, RELEASE);
            deviceChanges.unitDone();
            outcomes.push({ ok: true, value });
          } catch (error) {
            deviceChanges.unitUndone();
            // Most errors (a constraint, a ClaimConflict thrown by our code) leave the transaction open;
            // a few (I/O, full disk) make SQLite roll all of it back.
            if (!sqlite.inTransaction) {
              outcomes.push({ ok: false, error });
              lostBy = error;
              throw new BatchLost();
            }
            await execute(trx, ROLLBACK_TO);
            await execute(trx, RELEASE);
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // Nothing of this batch is in the database: units that had succeeded fail with the cause,
      // units not yet run go back to the front of the queue.
      const cause = lostBy ?? error;
      for (let i = 0; i < outcomes.length; i++) {
        const o = outcomes[i]!;
        batch[i]!.reject(o.ok ? cause : o.error);
      }
      queue = [...batch.slice(outcomes.length), ...queue];
      scheduled = false;
      if (queue.length > 0) schedule();
      return;
    }
    deviceChanges.committed();
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i]!;
      if (o.ok) batch[i]!.resolve(o.value);
      else batch[i]!.reject(o.error);
    }
    scheduled = false;
    if (queue.length > 0) schedule();
  }

  return function transact<T>(work: TransactionWork<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      queue.push({ work: work as TransactionWork<unknown>, resolve: resolve as (v: unknown) => void, reject });
      schedule();
    });
  };
}
