import BetterSqlite3 from 'better-sqlite3';

/** A SQLite file made before this version, with `pageSize`-byte pages: a page size is fixed once a file holds a table. */
export function sqliteFileWithPageSize(file: string, pageSize: number): void {
  const db = new BetterSqlite3(file);
  try {
    db.pragma(`page_size = ${pageSize}`);
    db.exec('create table made_before (a integer)');
  } finally {
    db.close();
  }
}
