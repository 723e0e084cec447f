import { sql, type Kysely } from 'kysely';

/**
 * A claim's cost at scale is the B-tree pages it dirties: each one is
 * written to the WAL at commit and back to the database at checkpoint. A
 * device row's `status` and `consumer` changed in four index entries, on
 * different pages; now in two:
 *  - pci_devices_pick leads with (host, status): the pick's "free device of
 *    this kind, lowest address" is the start of its range as before, and a
 *    release's "in-use siblings of a VF" is the host's (few) in-use entries,
 *    so pci_devices_parent, which moved on every claim too, is dropped. A
 *    PF's whole family is the host's range of the (host, address) key.
 *  - pci_devices_consumer holds only claimed devices: releases look devices
 *    up by a consumer, never by NULL, and a claim no longer moves an entry
 *    out of the hundreds of thousands of free devices' NULL run.
 */
export function deviceStateIndexesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_devices_parent`.execute(db);
      await sql`drop index pci_devices_pick`.execute(db);
      await sql`create index pci_devices_pick on pci_devices (host, status, dev_type, physical_network, address)`.execute(db);
      await sql`drop index pci_devices_consumer`.execute(db);
      await sql`create index pci_devices_consumer on pci_devices (consumer) where consumer is not null`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_devices_consumer`.execute(db);
      await sql`create index pci_devices_consumer on pci_devices (consumer)`.execute(db);
      await sql`drop index pci_devices_pick`.execute(db);
      await sql`create index pci_devices_pick on pci_devices (host, dev_type, physical_network, status, address)`.execute(db);
      await sql`create index pci_devices_parent on pci_devices (host, parent_addr, status)`.execute(db);
    },
  };
}
