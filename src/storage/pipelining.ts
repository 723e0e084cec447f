import { CompiledQuery, PostgresAdapter, type Kysely, type QueryResult } from 'kysely';
import { execute } from './inTransaction.js';
import type { Database } from './schema.js';

/** These calls batch round trips on PostgreSQL; on SQLite, in-process, each statement simply runs. */
function onPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * For a write that must change exactly one row (a conditional update, a
 * claim): the error to fail with when it changed none or several.
 */
export type UnlessOneRow = () => Error;

/** What a deferred write hands to the PostgreSQL connection (pgConnection.ts). */
export interface DeferredWrite {
  query: CompiledQuery;
  unlessOneRow: UnlessOneRow | undefined;
}

/** The SQL text by which a deferred write reaches the connection of the transaction it belongs to. */
export const DEFERRED_WRITE = '/* vdpa: deferred write */';

/**
 * A write inside a transaction whose result nobody waits for. On PostgreSQL
 * it is sent together with the transaction's next statement, or its commit,
 * in one round trip. With `unlessOneRow`, a write that did not change exactly
 * one row fails that statement (or the commit: the transaction then rolls
 * back) with that error; PostgreSQL itself checks it before anything later
 * runs. On SQLite, in-process and without round trips, the write runs at once.
 *
 * Outside a transaction it runs at once on PostgreSQL too.
 */
export async function deferWrite(trx: Kysely<Database>, query: CompiledQuery, unlessOneRow?: UnlessOneRow): Promise<void> {
  if (onPostgres(trx)) {
    const write: DeferredWrite = { query, unlessOneRow };
    await trx.executeQuery(CompiledQuery.raw(DEFERRED_WRITE, [write]));
    return;
  }
  const result = await execute(trx, query);
  if (unlessOneRow && Number(result.numAffectedRows ?? 0n) !== 1) throw unlessOneRow();
}

/** The SQL text by which statements to send together reach the connection (pgConnection.ts). */
export const TOGETHER = '/* vdpa: statements together */';

/**
 * Statements that do not depend on each other's results (a port and its
 * addresses, by the port's id), sent in one round trip on PostgreSQL with
 * any deferred writes before them; one after another on SQLite. Results
 * come back in order.
 */
export async function runTogether(db: Kysely<Database>, queries: CompiledQuery[]): Promise<QueryResult<unknown>[]> {
  if (onPostgres(db)) {
    const { rows } = await db.executeQuery(CompiledQuery.raw(TOGETHER, [queries]));
    return rows as QueryResult<unknown>[];
  }
  const results: QueryResult<unknown>[] = [];
  for (const q of queries) results.push(await execute(db, q));
  return results;
}

/** The SQL text by which a read sent later reaches the connection of its transaction (pgConnection.ts). */
export const READ_LATER = '/* vdpa: read later */';

/** What readLater hands to the PostgreSQL connection. */
export interface LaterRead {
  query: CompiledQuery;
  answer(result: QueryResult<unknown>): void;
  fail(error: unknown): void;
}

/**
 * A read inside a transaction that goes out with the transaction's next
 * round trip (on PostgreSQL), so reading ahead what a later step needs costs
 * no round trip of its own; its promise settles when that answer comes. If
 * the transaction fails or ends first, it rejects with that cause. On SQLite
 * it runs at once. Must be called before the statement it is to ride with.
 */
export function readLater<R>(db: Kysely<Database>, query: CompiledQuery<R>): Promise<QueryResult<R>> {
  if (!onPostgres(db)) return execute(db, query);
  const result = new Promise<QueryResult<R>>((answer, fail) => {
    const read: LaterRead = { query, answer: answer as (r: QueryResult<unknown>) => void, fail };
    // Called now, so it is queued on the transaction's connection before whatever the caller runs next.
    db.executeQuery(CompiledQuery.raw(READ_LATER, [read])).catch(fail);
  });
  // A caller that stopped waiting (its transaction failed on an earlier statement) must not leave an unhandled rejection.
  result.catch(() => undefined);
  return result;
}
