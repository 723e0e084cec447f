import { PostgresAdapter, type Kysely } from 'kysely';
import type { Storage, Store } from '../../src/storage/db.js';
import { dbOf, unitOver } from '../../src/storage/internal/handles.js';
import type { Database } from '../../src/storage/schema.js';
import type { Session, Unit } from '../../src/storage/unit.js';

/**
 * Tests look at rows directly and set up states no API makes; these reach
 * past the storage boundary that src/ keeps (dependency-cruiser checks src/ only).
 */
export function kysely(handle: Storage | Session): Kysely<Database> {
  return 'transact' in handle ? (handle as Store).db : dbOf(handle);
}

/** A raw Kysely handle (a test's own transaction, or the store's) as a unit: each statement as the handle runs it. */
export function asUnit(db: Kysely<Database>): Unit {
  return unitOver(db, db.getExecutor().adapter instanceof PostgresAdapter);
}
