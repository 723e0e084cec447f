import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { profiledStatement, sqlProfileFigures } from './sqlProfile.js';

/**
 * Kysely prepares every query anew; compiling SQL in SQLite costs more than
 * running a small indexed query. The same SQL text reuses its prepared
 * statement (all()/run() are synchronous, so one statement never serves two
 * queries at once; a statement still iterating gets a fresh one).
 */
export function withStatementCache(sqlite: BetterSqlite3.Database, capacity = 2000): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const profile = process.env.VDPA_SQL_PROFILE ? sqlProfileFigures(process.env.VDPA_SQL_PROFILE) : null;
  return {
    close: () => { sqlite.close(); },
    prepare(sql: string): SqliteStatement {
      const hit = cache.get(sql);
      if (hit && !hit.busy) return hit as unknown as SqliteStatement;
      const prepared = sqlite.prepare(sql);
      const stmt = profile ? profiledStatement(prepared, sql, profile) : prepared;
      if (hit) return stmt as unknown as SqliteStatement;
      // SQL text varies only with IN-list lengths and the like; a full cache starts over.
      if (cache.size >= capacity) cache.clear();
      cache.set(sql, stmt);
      return stmt as unknown as SqliteStatement;
    },
  };
}
