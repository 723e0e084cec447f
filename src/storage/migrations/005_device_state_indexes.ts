import { sql, type Kysely } from 'kysely';
import { DEVICE_ROW_VARIABLE_WIDTH } from '../devices/rowRoom.js';

/**
 * A claim's cost at scale is the B-tree pages it writes: each is written
 * whole to the WAL at commit and again at checkpoint. Measured on a freshly
 * registered inventory of 10,000 hosts (every page packed full), a claim
 * wrote ~14 pages; the device rows' share of them had three causes:
 *  - pci_devices_parent moved an entry on every status change. It is
 *    dropped: a release's "in-use siblings of a VF", and a PF's family, are
 *    read by walking the host's few dozen rows through the (host, address)
 *    key, once per release instead of one more page on every claim.
 *  - pci_devices_consumer held every free device under NULL, and a claim
 *    moved the entry out of that run. It now holds claimed devices only
 *    (releases look devices up by a consumer, never by NULL).
 *  - The row itself grew by two UUIDs and SQLite, which has no fill factor,
 *    rebalanced the full page with its neighbours. `reserved` keeps that
 *    room in the row until a claim takes it (devices/rowRoom.ts).
 */
export function deviceStateIndexesMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`drop index pci_devices_parent`.execute(db);
      await sql`drop index pci_devices_consumer`.execute(db);
      await sql`create index pci_devices_consumer on pci_devices (consumer) where consumer is not null`.execute(db);
      await sql`alter table pci_devices add column reserved text`.execute(db);
      const room = sql`${sql.lit(DEVICE_ROW_VARIABLE_WIDTH)} - length(status) - coalesce(length(instance_uuid), 0) - coalesce(length(consumer), 0)`;
      await sql`update pci_devices set reserved = case when ${room} > 0 then substr(${sql.lit(' '.repeat(DEVICE_ROW_VARIABLE_WIDTH))}, 1, ${room}) end`.execute(db);
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await sql`alter table pci_devices drop column reserved`.execute(db);
      await sql`drop index pci_devices_consumer`.execute(db);
      await sql`create index pci_devices_consumer on pci_devices (consumer)`.execute(db);
      await sql`create index pci_devices_parent on pci_devices (host, parent_addr, status)`.execute(db);
    },
  };
}
