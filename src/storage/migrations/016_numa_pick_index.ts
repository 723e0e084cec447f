import { sql, type Kysely } from 'kysely';

/**
 * pci_devices_pick gains `missing` and `numa_node` after `address`: a NUMA
 * claim counts a host's free devices of the port's kind per NUMA node
 * (repositories/numa.ts), and with both columns in the index that count
 * reads only the index, not each of the host's ~65 device rows. The pick
 * itself keeps its order (`address` right after the equalities), checks
 * `missing` and the node in the index and reads the one row it takes. The
 * entry grows by two small integers and moves only when it already did (on
 * a status change), so a plain claim writes as many pages as before.
 */
export function numaPickIndexMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_devices_pick`.execute(db);
      await sql`create index pci_devices_pick on pci_devices (host, dev_type, physical_network, status, address, missing, numa_node)`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_devices_pick`.execute(db);
      await sql`create index pci_devices_pick on pci_devices (host, dev_type, physical_network, status, address)`.execute(db);
    },
  };
}
