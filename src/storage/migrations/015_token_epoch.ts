import { sql, type Kysely } from 'kysely';

/**
 * token_epoch: one row whose counter every token revocation moves, in the
 * revoking transaction. A controller caches what a token stands for together
 * with the counter it read first; a request then costs one primary-key read
 * of the counter instead of the token's joins, and a revocation anywhere
 * (another controller, a CLI process on the same SQLite file) invalidates
 * every cache at once.
 */
export function tokenEpochMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`create table token_epoch (id integer primary key, epoch bigint not null)`.execute(db);
      await sql`insert into token_epoch (id, epoch) values (1, 0)`.execute(db);
    },
  };
}
