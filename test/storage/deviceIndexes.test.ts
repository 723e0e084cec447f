/**
 * The storage layout a claim's cost depends on (migration 005, the room kept
 * in device rows, the page size of a new SQLite file), checked on real
 * databases: the claim's and release's device queries go through indexes,
 * the consumer index holds claimed devices only, a device row keeps one
 * length through claim and release (and migration 005 gives existing rows
 * their room), and an existing database keeps the page size it was made with.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Migration } from 'kysely';
import pg from 'pg';
import { requestForPort } from '../../src/domain/pci/request.js';
import { migrationsFor, openStore, type Dialect, type Store } from '../../src/storage/db.js';
import { DEVICE_ROW_VARIABLE_WIDTH } from '../../src/storage/devices/rowRoom.js';
import { claimOnHost, releaseConsumer } from '../../src/storage/repositories/claims.js';
import { syncInventory } from '../../src/storage/devices/deviceWrites.js';
import { registerHost } from '../../src/storage/repositories/hosts.js';
import type { TrackedDevice } from '../../src/domain/pci/device.js';
import { sqliteFileWithPageSize } from '../helpers/sqliteFiles.js';
import { withPostgresDatabase } from '../helpers/testController.js';
import { asUnit } from '../helpers/storageAccess.js';

const PICK = `select * from pci_devices where host = 'h' and dev_type = 'vdpa' and physical_network = 'p'
  and status = 'available' and missing = 0 order by address limit 1`;
/** A NUMA claim's count of free devices of the port's kind per node (repositories/numa.ts): read from the index alone (migration 016). */
const FREE_PER_NODE = `select numa_node, count(*) as free from pci_devices where host = 'h' and dev_type = 'vdpa' and physical_network = 'p'
  and status = 'available' and missing = 0 group by numa_node`;
const IN_USE_SIBLINGS = `select * from pci_devices where host = 'h' and parent_addr = 'a' and status in ('claimed', 'allocated')`;
const HELD = `select * from pci_devices where consumer = 'c' order by address`;

const VM = '3f0c1a52-9d7e-4c1b-8a8e-2f6b0d4c9e11';

function nic(pfAddr: string, vfs: number): TrackedDevice[] {
  const base = { vendorId: '15b3', numaNode: 0, physicalNetwork: 'physnet0', devname: null, tags: { physical_network: 'physnet0' } };
  const pf: TrackedDevice = { ...base, address: pfAddr, productId: '101d', devType: 'type-PF', parentAddr: null, vdpaName: null, vdpaChardev: null };
  return [pf, ...Array.from({ length: vfs }, (_, i): TrackedDevice => ({
    ...base, address: `${pfAddr.slice(0, -1)}${i + 1}`, productId: '101e', devType: 'vdpa', parentAddr: pfAddr,
    vdpaName: `vdpa${i}`, vdpaChardev: `/dev/vhost-vdpa-${i}`,
  }))];
}

async function seed(store: Store): Promise<void> {
  await registerHost(asUnit(store.db), {
    host: 'h1', serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '127.0.0.1', vcpus: 4, memoryMb: 8192, diskGb: 100,
    versions: { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' }, vdpaUnsupportedReason: null,
  }, { cpu: 1, ram: 1, disk: 1 });
  await syncInventory(asUnit(store.db), 'h1', nic('0000:06:00.0', 3));
}

/** Per device: its status and the length its variable columns add up to. */
async function widths(db: Kysely<any>): Promise<Array<[string, string, number]>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const rows = await sql<{ address: string; status: string; width: number }>`select address, status,
    length(status) + coalesce(length(instance_uuid), 0) + coalesce(length(consumer), 0) + coalesce(length(reserved), 0) as width
    from pci_devices order by address`.execute(db);
  return rows.rows.map((r) => [r.address, r.status, Number(r.width)]);
}

async function roomKeptThroughClaimAndRelease(store: Store): Promise<void> {
  await seed(store);
  const all = (status: string) => [['0000:06:00.0', status], ['0000:06:00.1', 'available'], ['0000:06:00.2', 'available'], ['0000:06:00.3', 'available']];
  const W = DEVICE_ROW_VARIABLE_WIDTH;
  assert.deepEqual(await widths(store.db), all('available').map(([a, s]) => [a, s, W]));
  await store.transact((trx) => claimOnHost(trx, {
    host: 'h1', consumer: VM, instanceUuid: VM, vcpus: 1, memoryMb: 512, diskGb: 1,
    pciRequests: [requestForPort({ id: 'p1', vnicType: 'vdpa', physicalNetwork: 'physnet0' })!],
  }));
  assert.deepEqual(await widths(store.db), [
    ['0000:06:00.0', 'unavailable', W], ['0000:06:00.1', 'allocated', W], ['0000:06:00.2', 'available', W], ['0000:06:00.3', 'available', W],
  ]);
  await store.transact((trx) => releaseConsumer(trx, VM));
  assert.deepEqual(await widths(store.db), all('available').map(([a, s]) => [a, s, W]));
}

/** A database at migration 004 with a free NIC and a claimed VF, then migrated on to the latest. */
async function migrationGivesExistingRowsTheirRoom(db: Kysely<any>, dialect: Dialect): Promise<void> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const all = migrationsFor(dialect);
  const upTo = (last: string) => new Migrator({ db, provider: { getMigrations: async () => Object.fromEntries(
    Object.entries(all).filter(([name]) => name <= last)) as Record<string, Migration> } });
  assert.equal((await upTo('004_claim_indexes').migrateToLatest()).error, undefined);
  const row = (address: string, status: string, holder: string | null) => ({
    host: 'h1', address, vendor_id: '15b3', product_id: '101e', dev_type: 'vdpa', status, parent_addr: '0000:06:00.0', numa_node: 0,
    physical_network: 'physnet0', devname: null, vdpa_name: null, vdpa_chardev: null, tags: '{}', instance_uuid: holder, consumer: holder,
    missing: 0, updated_at: 'now',
  });
  await db.insertInto('pci_devices').values([
    { ...row('0000:06:00.0', 'unavailable', null), dev_type: 'type-PF', parent_addr: null },
    row('0000:06:00.1', 'allocated', VM), row('0000:06:00.2', 'available', null), row('0000:06:00.3', 'removed', null),
  ]).execute();
  assert.equal((await upTo('999').migrateToLatest()).error, undefined);
  const W = DEVICE_ROW_VARIABLE_WIDTH;
  assert.deepEqual(await widths(db), [
    ['0000:06:00.0', 'unavailable', W], ['0000:06:00.1', 'allocated', W], ['0000:06:00.2', 'available', W], ['0000:06:00.3', 'removed', W],
  ]);
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-indexes-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function planOf(file: string, query: string): string {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (db.prepare(`explain query plan ${query}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  } finally {
    db.close();
  }
}

describe('device rows and indexes', () => {
  test('SQLite: a new database has 2 KiB pages and the claim queries use their indexes', { timeout: 300_000 }, async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'new.sqlite');
      const store = await openStore(file);
      await store.close();
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        assert.equal(db.pragma('page_size', { simple: true }), 2048);
        const indexes = db.prepare(`select name, sql from sqlite_master where type = 'index' and tbl_name = 'pci_devices' and sql is not null`)
          .all() as Array<{ name: string; sql: string }>;
        assert.deepEqual(indexes.map((i) => i.name).sort(), ['pci_devices_consumer', 'pci_devices_pick']);
        assert.match(indexes.find((i) => i.name === 'pci_devices_consumer')!.sql, /where consumer is not null/i);
      } finally {
        db.close();
      }
      assert.match(planOf(file, PICK), /USING INDEX pci_devices_pick \(host=\? AND dev_type=\? AND physical_network=\? AND status=\?\)/);
      assert.doesNotMatch(planOf(file, PICK), /TEMP B-TREE/);
      assert.match(planOf(file, FREE_PER_NODE), /USING COVERING INDEX pci_devices_pick \(host=\? AND dev_type=\? AND physical_network=\? AND status=\?\)/);
      assert.match(planOf(file, IN_USE_SIBLINGS), /^SEARCH pci_devices USING INDEX \w+ \(host=\?/);
      assert.match(planOf(file, HELD), /USING INDEX pci_devices_consumer \(consumer=\?\)/);
    });
  });

  test('SQLite: an existing database keeps its page size', { timeout: 300_000 }, async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'old.sqlite');
      sqliteFileWithPageSize(file, 4096);
      const store = await openStore(file);
      await store.close();
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        assert.equal(db.pragma('page_size', { simple: true }), 4096);
      } finally {
        db.close();
      }
    });
  });

  test('SQLite: a device row keeps one length through claim and release', { timeout: 300_000 }, async () => {
    const store = await openStore(':memory:');
    try {
      await roomKeptThroughClaimAndRelease(store);
    } finally {
      await store.close();
    }
  });

  test('SQLite: migration 005 gives existing rows their room', { timeout: 300_000 }, async () => {
    const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) }); // eslint-disable-line @typescript-eslint/no-explicit-any
    try {
      await migrationGivesExistingRowsTheirRoom(db, 'sqlite');
    } finally {
      await db.destroy();
    }
  });

  test('PostgreSQL: the same indexes (the consumer one partial), rows and migration', { timeout: 300_000 }, async () => {
    await withPostgresDatabase(async (url) => {
      const store = await openStore(url);
      try {
        const { rows } = await sql<{ indexname: string; indexdef: string }>`select indexname, indexdef from pg_indexes
          where tablename = 'pci_devices' and indexname like 'pci_devices_%' order by indexname`.execute(store.db);
        const defs = new Map(rows.map((r) => [r.indexname, r.indexdef]));
        assert.deepEqual([...defs.keys()].filter((n) => n !== 'pci_devices_host_address' && n !== 'pci_devices_pkey'),
          ['pci_devices_consumer', 'pci_devices_pick']);
        assert.match(defs.get('pci_devices_consumer')!, /WHERE \(consumer IS NOT NULL\)/);
        await roomKeptThroughClaimAndRelease(store);
      } finally {
        await store.close();
      }
    });
    await withPostgresDatabase(async (url) => {
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      // As openStore does: pool.end() does not wait for its connections' goodbyes, and DROP DATABASE … FORCE
      // may reach one that is still closing; that must not be an unhandled error.
      pool.on('error', () => undefined);
      const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) }); // eslint-disable-line @typescript-eslint/no-explicit-any
      try {
        await migrationGivesExistingRowsTheirRoom(db, 'postgres');
      } finally {
        await db.destroy();
      }
    });
  });
});
