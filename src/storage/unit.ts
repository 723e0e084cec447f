/**
 * The handles code outside storage gets. Neither is a database handle:
 * storage alone decides how a statement runs (group commit on SQLite,
 * pipelining on PostgreSQL, prepared and precompiled statements), so a
 * caller only says what it needs: a unit for work that must commit together,
 * a reader for reads outside any transaction.
 */
declare const unitBrand: unique symbol;
declare const readerBrand: unique symbol;

/**
 * One unit of work: what `Store.transact` hands its callback. Every write
 * takes a unit, so nothing is written outside a transaction, and a unit is
 * only valid until its callback settles.
 */
export interface Unit {
  readonly [unitBrand]: true;
}

/**
 * Reads outside any transaction, each statement on its own. A write cannot
 * take it (the types say so), and inside a unit the unit is the handle to
 * read with: on SQLite a reader waits for the connection a unit holds.
 */
export interface Reader {
  readonly [readerBrand]: true;
}

/** Either handle: what a read that runs inside and outside units takes. */
export type Session = Unit | Reader;
