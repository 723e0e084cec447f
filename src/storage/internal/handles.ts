import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { Reader, Session, Unit } from '../unit.js';

/** What a Unit or a Reader is inside storage: the Kysely handle, and which database it speaks to. */
class Handle {
  constructor(readonly db: Kysely<Database>, readonly postgres: boolean) {}
}

/** Store.transact: the unit of the transaction `trx`. */
export function unitOver(trx: Kysely<Database>, postgres: boolean): Unit {
  return new Handle(trx, postgres) as unknown as Unit;
}

/** openStore: the store's reader. */
export function readerOver(db: Kysely<Database>, postgres: boolean): Reader {
  return new Handle(db, postgres) as unknown as Reader;
}

/** Storage only: the Kysely handle behind a unit or a reader. */
export function dbOf(s: Session): Kysely<Database> {
  return (s as unknown as Handle).db;
}

/** Storage only: whether the handle speaks to PostgreSQL (round trips worth batching, row locks to take). */
export function onPostgres(s: Session): boolean {
  return (s as unknown as Handle).postgres;
}
