import { sql, type Kysely } from 'kysely';

/**
 * Every agent asks "which of my guests are not yet as desired?" several
 * times a second; guests_host made that a walk over all of the host's
 * guests (with their specs and domain XML). A partial index holds only the
 * guests with work pending, which are few, so the poll reads just those.
 */
export function pendingGuestsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`create index guests_pending on guests (host) where generation > observed_generation`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index guests_pending`.execute(db);
    },
  };
}
