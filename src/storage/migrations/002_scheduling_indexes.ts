import { sql, type Kysely } from 'kysely';

/**
 * The candidate query reads "hosts with free devices of this kind, most free
 * first, then by name". pci_pools_candidates ends at `free`, so the database
 * sorted every host sharing the top free count (with spread claims: all of
 * them) for each decision. Ordered like the query, the index hands over the
 * first `limit` rows and stops: a decision no longer grows with the host count.
 */
export function schedulingIndexesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`create index pci_pools_by_free on pci_pools (dev_type, physical_network, free desc, host)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_pools_by_free`.execute(db);
    },
  };
}
