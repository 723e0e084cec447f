import type { CompiledQuery, Kysely, QueryResult, SqliteDatabase } from 'kysely';
import type { Database } from './schema.js';

/** The statement-caching SQLite handle behind each SQLite store's Kysely instance (by its adapter, which its transactions share). */
const sqliteOf = new WeakMap<object, SqliteDatabase>();

/** Called once by openStore for a SQLite store. */
export function runTransactionStatementsDirectly(db: Kysely<Database>, sqlite: SqliteDatabase): void {
  sqliteOf.set(db.getExecutor().adapter, sqlite);
}

/**
 * Runs a statement. Inside a SQLite transaction it runs straight on the
 * connection the transaction holds, as Kysely's SQLite connection would
 * (same prepared statement, same result shape) but without its executor's
 * promise chain, which cost more than the small indexed statements of a
 * claim. Outside a transaction, and on PostgreSQL, Kysely runs it: there the
 * connection must first be acquired (on SQLite it may be held by a
 * transaction that is not this caller's).
 */
export function execute<R>(db: Kysely<Database>, query: CompiledQuery<R>): Promise<QueryResult<R>> {
  const sqlite = db.isTransaction ? sqliteOf.get(db.getExecutor().adapter) : undefined;
  if (!sqlite) return db.executeQuery(query);
  try {
    return Promise.resolve(runOn(sqlite, query));
  } catch (e) {
    return Promise.reject(e);
  }
}

function runOn<R>(sqlite: SqliteDatabase, query: CompiledQuery<R>): QueryResult<R> {
  const stmt = sqlite.prepare(query.sql);
  if (stmt.reader) return { rows: stmt.all(query.parameters) as R[] };
  const { changes, lastInsertRowid } = stmt.run(query.parameters);
  return {
    numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
    insertId: lastInsertRowid !== undefined && lastInsertRowid !== null ? BigInt(lastInsertRowid) : undefined,
    rows: [],
  };
}
