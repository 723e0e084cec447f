import { sql, type Kysely } from 'kysely';

/**
 * Every claim and release rewrites the index entries of the rows it
 * changes, and at scale that page writing is most of a claim's commit, so
 * each index earns its place:
 *  - pci_devices_pick ends in `address`: "the free device of this kind with
 *    the lowest address" is the first entry of the range, not a sort of the
 *    host's free devices;
 *  - pci_devices_parent includes `status`: a release asks for the in-use
 *    siblings of a VF (may its PF come back?), now a range of a few entries
 *    instead of every VF of the NIC;
 *  - pci_devices_instance is dropped: no query reads devices by instance
 *    (claims are found by consumer);
 *  - pci_pools_candidates is dropped: pci_pools_by_free (002) serves its
 *    queries as its prefix.
 */
export function claimIndexesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_pools_candidates`.execute(db);
      await sql`drop index pci_devices_instance`.execute(db);
      await sql`drop index pci_devices_pick`.execute(db);
      await sql`create index pci_devices_pick on pci_devices (host, dev_type, physical_network, status, address)`.execute(db);
      await sql`drop index pci_devices_parent`.execute(db);
      await sql`create index pci_devices_parent on pci_devices (host, parent_addr, status)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_devices_parent`.execute(db);
      await sql`create index pci_devices_parent on pci_devices (host, parent_addr)`.execute(db);
      await sql`drop index pci_devices_pick`.execute(db);
      await sql`create index pci_devices_pick on pci_devices (host, dev_type, physical_network, status)`.execute(db);
      await sql`create index pci_devices_instance on pci_devices (instance_uuid)`.execute(db);
      await sql`create index pci_pools_candidates on pci_pools (dev_type, physical_network, free)`.execute(db);
    },
  };
}
