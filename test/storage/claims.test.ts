import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClaimConflict } from '../../src/domain/errors.js';
import { parseDeviceSpecs, applyDeviceSpecs } from '../../src/domain/pci/deviceSpec.js';
import { requestForPort } from '../../src/domain/pci/request.js';
import { simulatedFunctions, parseHostInventory } from '../../src/domain/inventory/hostInventory.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { claimOnHost, releaseConsumer, transferConsumer } from '../../src/storage/repositories/claims.js';
import { syncInventory } from '../../src/storage/devices/deviceWrites.js';
import { registerHost } from '../../src/storage/repositories/hosts.js';
import { devicesOfHost } from '../../src/storage/repositories/pciDevices.js';
import pg from 'pg';
import { withPostgresDatabase } from '../helpers/testController.js';
import { vdpaInventoryYaml } from '../helpers/inventoryYaml.js';
import { asUnit } from '../helpers/storageAccess.js';
import type { HostNumaTopology } from '../../src/domain/numa/hostTopology.js';
import { guestNumaTopology } from '../../src/domain/numa/guestTopology.js';

const inventory = vdpaInventoryYaml;
const HOST = inventory('h1', ['0000:06:00.0'], 4);

const vdpaRequest = (id: string) => requestForPort({ id, vnicType: 'vdpa', physicalNetwork: 'physnet0' })!;
const pfRequest = (id: string) => requestForPort({ id, vnicType: 'direct-physical', physicalNetwork: 'physnet0' })!;

/** Registers the inventory's (one) host with its devices: h1 of HOST unless told otherwise. */
async function seed(store: Store, inventory = HOST): Promise<void> {
  const [entry] = parseHostInventory(inventory, 'test');
  await registerHost(asUnit(store.db), {
    host: entry!.name, serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '127.0.0.1', vcpus: 4, memoryMb: 8192, diskGb: 100,
    versions: entry!.versions, vdpaUnsupportedReason: null,
  }, { cpu: 1, ram: 1, disk: 1 });
  await syncInventory(asUnit(store.db), entry!.name, applyDeviceSpecs(parseDeviceSpecs(entry!.deviceSpec), simulatedFunctions(entry!)));
}

async function free(store: Store): Promise<number> {
  return (await devicesOfHost(asUnit(store.db), 'h1')).filter((d) => d.status === 'available').length;
}

async function pools(store: Store) {
  return store.db.selectFrom('pci_pools').selectAll().where('host', '=', 'h1').orderBy('dev_type').execute();
}

function claimsBehave(open: () => Promise<{ store: Store; done: () => Promise<void> }>) {
  test('the counting example: 5 free, 3 after one vdpa claim, 5 again after release; pools follow', { timeout: 300_000 }, async () => {
    const { store, done } = await open();
    try {
      await seed(store);
      assert.equal(await free(store), 5);
      await store.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
        host: 'h1', consumer: 'vm-1', instanceUuid: 'vm-1', vcpus: 1, memoryMb: 512, diskGb: 1, pciRequests: [vdpaRequest('p1')],
      }));
      assert.equal(await free(store), 3);
      const pf = (await devicesOfHost(asUnit(store.db), 'h1')).find((d) => d.devType === 'type-PF')!;
      assert.equal(pf.status, 'unavailable');
      assert.deepEqual((await pools(store)).map((p) => [p.dev_type, p.free, p.total]), [['type-PF', 0, 1], ['vdpa', 3, 4]]);
      await store.db.transaction().execute((trx) => releaseConsumer(asUnit(trx), 'vm-1'));
      assert.equal(await free(store), 5);
      assert.deepEqual((await pools(store)).map((p) => [p.dev_type, p.free]), [['type-PF', 1], ['vdpa', 4]]);
      const node = await store.db.selectFrom('compute_nodes').selectAll().executeTakeFirstOrThrow();
      assert.deepEqual([node.vcpus_used, node.memory_mb_used, node.local_gb_used], [0, 0, 0]);
    } finally { await done(); }
  });

  test('a failed claim rolls back everything it did in its transaction', { timeout: 300_000 }, async () => {
    const { store, done } = await open();
    try {
      await seed(store);
      await assert.rejects(store.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
        host: 'h1', consumer: 'vm-2', instanceUuid: 'vm-2', vcpus: 1, memoryMb: 512, diskGb: 1,
        // Four vdpa VFs exist: asking for five must fail on the fifth and leave nothing claimed.
        pciRequests: [{ ...vdpaRequest('p1'), count: 5 }],
      })), ClaimConflict);
      assert.equal(await free(store), 5);
      const allocations = await store.db.selectFrom('allocations').selectAll().execute();
      assert.equal(allocations.length, 0);
    } finally { await done(); }
  });

  test('a PF is not claimable while one of its VFs is allocated, and claiming it blocks every VF', { timeout: 300_000 }, async () => {
    const { store, done } = await open();
    try {
      await seed(store);
      await store.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
        host: 'h1', consumer: 'vm-a', instanceUuid: 'vm-a', vcpus: 0, memoryMb: 0, diskGb: 0, pciRequests: [vdpaRequest('a')],
      }));
      await assert.rejects(store.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
        host: 'h1', consumer: 'vm-b', instanceUuid: 'vm-b', vcpus: 0, memoryMb: 0, diskGb: 0, pciRequests: [pfRequest('b')],
      })), ClaimConflict);
      await store.db.transaction().execute((trx) => releaseConsumer(asUnit(trx), 'vm-a'));
      await store.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
        host: 'h1', consumer: 'vm-b', instanceUuid: 'vm-b', vcpus: 0, memoryMb: 0, diskGb: 0, pciRequests: [pfRequest('b')],
      }));
      const devices = await devicesOfHost(asUnit(store.db), 'h1');
      assert.deepEqual(devices.map((d) => d.status), ['allocated', 'unavailable', 'unavailable', 'unavailable', 'unavailable']);
    } finally { await done(); }
  });

  test('a resize keeps two claims apart: the source moves to the migration, the destination to the instance', { timeout: 300_000 }, async () => {
    const { store, done } = await open();
    try {
      await seed(store);
      const claim = (consumer: string) => store.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
        host: 'h1', consumer, instanceUuid: 'vm-r', vcpus: 1, memoryMb: 512, diskGb: 1, pciRequests: [vdpaRequest('r')],
      }));
      await claim('vm-r');
      await store.db.transaction().execute((trx) => transferConsumer(asUnit(trx), 'vm-r', 'migration-1', 'h1'));
      await claim('vm-r');
      assert.equal(await free(store), 2);
      await store.db.transaction().execute((trx) => releaseConsumer(asUnit(trx), 'migration-1'));
      assert.equal(await free(store), 3);
    } finally { await done(); }
  });

  test('inventory sync: a vanished free device is dropped, a vanished allocated one is flagged missing, never handed out', { timeout: 300_000 }, async () => {
    const { store, done } = await open();
    try {
      await seed(store);
      await store.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
        host: 'h1', consumer: 'vm-m', instanceUuid: 'vm-m', vcpus: 0, memoryMb: 0, diskGb: 0, pciRequests: [vdpaRequest('m')],
      }));
      const all = await devicesOfHost(asUnit(store.db), 'h1');
      const held = all.find((d) => d.status === 'allocated')!;
      const freeVf = all.find((d) => d.devType === 'vdpa' && d.status === 'available')!;
      const [entry] = parseHostInventory(HOST, 'test');
      const reported = applyDeviceSpecs(parseDeviceSpecs(entry!.deviceSpec), simulatedFunctions(entry!))
        .filter((d) => d.address !== held.address && d.address !== freeVf.address);
      const r = await syncInventory(asUnit(store.db), 'h1', reported);
      assert.deepEqual(r, { added: 0, removed: 1, flagged: 1 });
      const after = await devicesOfHost(asUnit(store.db), 'h1');
      assert.equal(after.length, 4);
      const flagged = after.find((d) => d.address === held.address)!;
      assert.equal(flagged.missing, true);
      assert.equal(flagged.instanceUuid, 'vm-m');
      await store.db.transaction().execute((trx) => releaseConsumer(asUnit(trx), 'vm-m'));
      assert.equal((await devicesOfHost(asUnit(store.db), 'h1')).find((d) => d.address === held.address)!.status, 'removed');
    } finally { await done(); }
  });
}

describe('claims on SQLite', () => {
  claimsBehave(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vdpa-claims-'));
    const store = await openStore(join(dir, 'db.sqlite'));
    return { store, done: () => store.close() };
  });
});

describe('claims on PostgreSQL', () => {
  claimsBehave(async () => {
    let release!: () => void;
    let ready!: (v: { store: Store; done: () => Promise<void> }) => void;
    const handle = new Promise<{ store: Store; done: () => Promise<void> }>((r) => { ready = r; });
    const finished = new Promise<void>((r) => { release = r; });
    void withPostgresDatabase(async (url) => {
      const store = await openStore(url);
      ready({ store, done: async () => { await store.close(); release(); await new Promise((r) => setTimeout(r, 50)); } });
      await finished;
    });
    return handle;
  });
});

test('PostgreSQL: the PF read with the pick is only used when it is the picked VF\'s own (a locked VF on another NIC)', { timeout: 300_000 }, async () => {
  const twoNics = inventory('h2', ['0000:06:00.0', '0000:07:00.0'], 1);
  await withPostgresDatabase(async (url) => {
    const store = await openStore(url);
    try {
      await seed(store, twoNics);
      const vfs = (await devicesOfHost(asUnit(store.db), 'h2')).filter((d) => d.devType === 'vdpa').sort((a, b) => a.address.localeCompare(b.address));
      assert.equal(vfs.length, 2);
      // Another session holds the first NIC's VF: the pick skips it, the PF guess still names the first NIC.
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        await other.query('begin');
        await other.query('select id from pci_devices where id = $1 for update', [vfs[0]!.id]);
        const claimed = await store.transact((trx) => claimOnHost(trx, {
          host: 'h2', consumer: 'vm-x', instanceUuid: 'vm-x', vcpus: 1, memoryMb: 512, diskGb: 1, pciRequests: [vdpaRequest('p1')],
        }));
        assert.equal(claimed[0]!.device.address, vfs[1]!.address);
        await other.query('rollback');
      } finally {
        await other.end();
      }
      const byAddress = new Map((await devicesOfHost(asUnit(store.db), 'h2')).map((d) => [d.address, d.status]));
      assert.deepEqual([byAddress.get(vfs[1]!.parentAddr!), byAddress.get(vfs[0]!.parentAddr!), byAddress.get(vfs[1]!.address)],
        ['unavailable', 'available', 'allocated'], JSON.stringify([...byAddress]));
    } finally {
      await store.close();
    }
  });
});

test('PostgreSQL: two releases of one consumer running at once give its NUMA cells, vCPUs and device back once', { timeout: 300_000 }, async () => {
  const topology: HostNumaTopology = {
    cells: [{ id: 0, socket: 0, cpus: [0, 1, 2, 3], memoryMb: 8192, hugepages: { 1048576: 4 } }],
    cpuDedicatedSet: null, cpuSharedSet: null,
  };
  const guest = guestNumaTopology({ vcpus: 2, ram: 2048, extra_specs: { 'hw:cpu_policy': 'dedicated', 'hw:mem_page_size': '1GB' } })!;
  await withPostgresDatabase(async (url) => {
    const store = await openStore(url);
    try {
      const [entry] = parseHostInventory(HOST, 'test');
      await registerHost(asUnit(store.db), {
        host: 'h1', serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '127.0.0.1', vcpus: 4, memoryMb: 8192, diskGb: 100,
        versions: entry!.versions, vdpaUnsupportedReason: null, numaTopology: topology,
      }, { cpu: 1, ram: 1, disk: 1 });
      await syncInventory(asUnit(store.db), 'h1', applyDeviceSpecs(parseDeviceSpecs(entry!.deviceSpec), simulatedFunctions(entry!)));
      const usage = async () => store.db.selectFrom('compute_nodes').select(['vcpus_used', 'memory_mb_used', 'running_vms', 'numa_usage']).executeTakeFirstOrThrow();

      // With a device (whose conditional writes alone made the second release fail) and without (nothing else stopped it).
      for (const withDevice of [true, false]) {
        const consumer = withDevice ? 'vm-d' : 'vm-n';
        await store.transact((u) => claimOnHost(u, {
          host: 'h1', consumer, instanceUuid: consumer, vcpus: 2, memoryMb: 2048, diskGb: 1,
          pciRequests: withDevice ? [vdpaRequest('p1')] : [], numa: { guest, pciPolicies: withDevice ? { p1: 'legacy' } : {} },
        }));
        assert.equal(JSON.parse((await usage()).numa_usage!)['0'].pinnedCpus.length, 2);

        // Another session holds the host's row: both releases are under way before either can finish.
        const other = new pg.Client({ connectionString: url });
        await other.connect();
        try {
          await other.query('begin');
          await other.query("select id from compute_nodes where host = 'h1' for update");
          const releases = [1, 2].map(() => store.transact((u) => releaseConsumer(u, consumer)));
          await new Promise((r) => setTimeout(r, 500));
          await other.query('commit');
          assert.deepEqual((await Promise.all(releases)).sort(), withDevice ? [0, 1] : [0, 0], 'one release freed the device, the other found nothing');
        } finally {
          await other.end();
        }
        const after = await usage();
        assert.deepEqual([after.vcpus_used, after.memory_mb_used, after.running_vms], [0, 0, 0], consumer);
        assert.deepEqual(JSON.parse(after.numa_usage!)['0'], { pinnedCpus: [], sharedVcpus: 0, memoryMb: 0, pages: {} }, consumer);
        assert.equal(await free(store), 5);
        assert.deepEqual((await pools(store)).map((p) => [p.dev_type, p.free]), [['type-PF', 1], ['vdpa', 4]]);
      }
    } finally {
      await store.close();
    }
  });
});
