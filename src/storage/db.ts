import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { initialMigration } from './migrations/001_initial.js';
import { schedulingIndexesMigration } from './migrations/002_scheduling_indexes.js';
import { pendingGuestsMigration } from './migrations/003_pending_guests.js';
import { claimIndexesMigration } from './migrations/004_claim_indexes.js';
import { serverGroupsMigration } from './migrations/013_server_groups.js';
import { deviceStateIndexesMigration } from './migrations/005_device_state_indexes.js';
import { operationsMigration } from './migrations/006_operations.js';
import { numaMigration } from './migrations/011_numa.js';
import { tokenEpochMigration } from './migrations/015_token_epoch.js';
import { numaPickIndexMigration } from './migrations/016_numa_pick_index.js';
import { serverLockAndTagsMigration } from './migrations/007_server_lock_and_tags.js';
import { everydayMigration } from './migrations/009_everyday.js';
import { zonesQuotasMigration } from './migrations/010_zones_quotas.js';
import { identityHardeningMigration } from './migrations/012_identity_hardening.js';
import { fallbackAutocheckpointPages, startCheckpointer, type Checkpointer } from './checkpointer.js';
import { attachDeviceChangeFeed, collectDeviceChanges, DeviceChangeFeed, PendingDeviceChanges } from './devices/changeFeed.js';
import { groupCommit, type TransactionWork } from './groupCommit.js';
import { readerOver, unitOver } from './internal/handles.js';
import type { Reader, Session, Unit } from './unit.js';
import { runTransactionStatementsDirectly } from './inTransaction.js';
import { preparingPool } from './preparingPool.js';
import { withStatementCache } from './statementCache.js';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';

export interface TransactOptions {
  /**
   * Reads that must agree with each other across tables (an audit). SQLite
   * units are serializable already; PostgreSQL's default is read committed.
   */
  consistentSnapshot?: boolean;
}

/** What code outside storage holds: units of work and a reader, never a database handle. */
export interface Storage {
  /** Which database this is, for logs and operator output only. */
  readonly backend: Dialect;
  /**
   * True when this process alone uses the database (SQLite): nothing it
   * held before a restart can be held by anyone else.
   */
  readonly singleProcess: boolean;
  /** Reads outside any transaction. */
  readonly reader: Reader;
  /**
   * Runs `work` as one unit of work in a transaction and resolves once it
   * has committed. On SQLite, units asked for together share one commit
   * (groupCommit.ts).
   */
  transact<T>(work: TransactionWork<T>, options?: TransactOptions): Promise<T>;
  /**
   * Work whose statements each stand alone (one conditional update: a
   * lease, a heartbeat): no transaction is opened and each statement commits
   * by itself, in one round trip.
   */
  autocommit<T>(work: TransactionWork<T>): Promise<T>;
  /**
   * Hosts whose devices, pools or claimed resources this process's writes
   * changed, delivered after their transaction committed (devices/changeFeed.ts).
   */
  deviceChanges: DeviceChangeFeed;
  close(): Promise<void>;
}

/** The store as storage itself, migrations and tests see it: with its Kysely handle. */
export interface Store extends Storage {
  db: Kysely<Database>;
  dialect: Dialect;
}

/** Versioned migrations, in order; a new one is appended, never edited. */
export function migrationsFor(dialect: Dialect): Record<string, Migration> {
  return {
    '001_initial': initialMigration(dialect),
    '002_scheduling_indexes': schedulingIndexesMigration(),
    '003_pending_guests': pendingGuestsMigration(),
    '004_claim_indexes': claimIndexesMigration(),
    // Kysely runs them in name order; entries out of order here keep each one its own line.
    '013_server_groups': serverGroupsMigration(),
    '005_device_state_indexes': deviceStateIndexesMigration(),
    '006_operations': operationsMigration(dialect),
    '011_numa': numaMigration(),
    '007_server_lock_and_tags': serverLockAndTagsMigration(),
    '009_everyday': everydayMigration(dialect),
    '010_zones_quotas': zonesQuotasMigration(dialect),
    '012_identity_hardening': identityHardeningMigration(),
    '015_token_epoch': tokenEpochMigration(),
    '016_numa_pick_index': numaPickIndexMigration(),
  };
}

class StaticMigrations implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrationsFor(this.dialect);
  }
}

/**
 * A claim dirties a handful of B-tree pages on different hosts' rows, and
 * each dirty page is written whole to the WAL at commit and again at
 * checkpoint: half-size pages halve those bytes for one more tree level.
 * Measured at 10,000 hosts: database decisions +10 to +20%, end to end +3%.
 */
const NEW_DATABASE_PAGE_SIZE = 2048;

/** Connections per controller process (VDPA_PG_POOL): 10 measured best on two cores, more only queued backends. */
export function postgresPoolSize(setting: string | undefined): number {
  if (setting === undefined || setting === '') return 10;
  const n = Number(setting);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new Error(`VDPA_PG_POOL must be a whole number of connections from 1 to 1000, not "${setting}"`);
  }
  return n;
}

/**
 * Opens the database named by a URL: `postgres://…` for PostgreSQL, otherwise
 * a SQLite file path (or `:memory:`).
 */
export async function openStore(url: string): Promise<Store> {
  const isPostgres = /^postgres(ql)?:\/\//.test(url);
  let db: Kysely<Database>;
  let dialect: Dialect;
  let transact: Store['transact'];
  let checkpointer: Checkpointer | null = null;
  const deviceChanges = new DeviceChangeFeed();
  if (isPostgres) {
    dialect = 'postgres';
    // int8 (count(*)) would otherwise come back as a string.
    pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
    const pool = new pg.Pool({ connectionString: url, max: postgresPoolSize(process.env.VDPA_PG_POOL) });
    // An idle connection dropped by the server (restart, DROP DATABASE … FORCE) must not crash the process;
    // the pool replaces it on the next query.
    pool.on('error', () => undefined);
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) });
    const pgDb = db;
    transact = async (work, options) => {
      // Device changes are delivered once the transaction committed, never when it rolled back.
      const changes = new PendingDeviceChanges(deviceChanges);
      let begin = pgDb.transaction();
      if (options?.consistentSnapshot) begin = begin.setIsolationLevel('repeatable read');
      const value = await begin.execute((trx) => {
        collectDeviceChanges(trx, changes);
        return work(unitOver(trx, true));
      });
      changes.committed();
      return value;
    };
  } else {
    dialect = 'sqlite';
    if (url !== ':memory:') mkdirSync(dirname(url), { recursive: true });
    const sqlite = new BetterSqlite3(url);
    // Only a new file takes it (an existing database keeps its page size).
    sqlite.pragma(`page_size = ${NEW_DATABASE_PAGE_SIZE}`);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    if (url !== ':memory:') {
      sqlite.pragma(`wal_autocheckpoint = ${fallbackAutocheckpointPages(sqlite.pragma('page_size', { simple: true }) as number)}`);
      // Without the thread, the serving connection checkpoints as SQLite does by default.
      checkpointer = startCheckpointer(url, () => sqlite.pragma('wal_autocheckpoint = 1000'));
    }
    const statements = withStatementCache(sqlite);
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: statements }) });
    runTransactionStatementsDirectly(db, statements);
    const grouped = groupCommit(db, sqlite, deviceChanges);
    transact = (work) => grouped(work);
  }
  attachDeviceChangeFeed(db, deviceChanges);
  const migrator = new Migrator({ db, provider: new StaticMigrations(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  const close = async () => {
    await checkpointer?.stop();
    await db.destroy();
  };
  if (error) {
    await close();
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
  const postgres = dialect === 'postgres';
  const alone = unitOver(db, postgres);
  return {
    db, dialect, backend: dialect, singleProcess: !postgres, reader: readerOver(db, postgres),
    transact, autocommit: (work) => work(alone), deviceChanges, close,
  };
}

/**
 * Runs `work` in the caller's unit when given one, else in a unit of its
 * own: a service that is called both on its own and as part of a larger
 * unit of work (a port created with its server) takes either.
 */
export function inUnit<T>(target: Unit | Storage, work: (unit: Unit) => Promise<T>): Promise<T> {
  return isStorage(target) ? target.transact(work) : work(target);
}

export function isStorage(target: Unit | Storage): target is Storage {
  return typeof (target as Storage).transact === 'function';
}

/** What to read with: the caller's unit, or the store's reader. */
export function sessionOf(target: Unit | Storage): Session {
  return isStorage(target) ? target.reader : target;
}
