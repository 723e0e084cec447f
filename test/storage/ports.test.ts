import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuthContext } from '../../src/controller/context.js';
import { createNetwork, createSubnet } from '../../src/controller/services/networking.js';
import { createPort, deletePort } from '../../src/controller/services/ports.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { getNetwork } from '../../src/storage/repositories/networks.js';
import {
  bindPort, getPort, getPorts, listPorts, portsOfDevice, setPortStatus, unbindPort,
} from '../../src/storage/repositories/ports.js';
import pg from 'pg';
import { withPostgresDatabase } from '../helpers/testController.js';
import { asUnit } from '../helpers/storageAccess.js';

const member: AuthContext = {
  userId: 'u-demo', userName: 'demo', projectId: 'p-demo', projectName: 'demo', roles: ['member'], isAdmin: false, isService: false, agentHost: null,
};
const BINDING = {
  hostId: 'host1', deviceId: 'server-1', deviceOwner: 'compute:nova', vifType: 'ovs', vifDetails: { port_filter: true },
  profile: { pci_vendor_info: '15b3:101e', pci_slot: '0000:06:00.4', physical_network: 'physnet4' }, status: 'ACTIVE',
};

/** The same behaviour on both databases the controller supports. */
function portStorageSuite(dialect: string, open: () => Promise<{ store: Store; done: () => Promise<void> }>) {
  describe(`port storage on ${dialect}`, () => {
    let store: Store;
    let done: () => Promise<void>;
    let networkId: string;
    let subnetId: string;
    before(async () => {
      ({ store, done } = await open());
      const net = await createNetwork(store, {
        name: 'vdpa-net', projectId: 'p-admin', shared: true, physicalNetwork: 'physnet4', networkType: 'vlan', segmentationId: 100,
      });
      networkId = net.id;
      subnetId = (await createSubnet(store, { name: 's', networkId, projectId: 'p-admin', cidr: '10.0.0.0/16', ipVersion: 4 })).id;
    });
    after(async () => { await done(); });

    test('a port record carries its network physnet, name and MTU', { timeout: 300_000 }, async () => {
      const p = await createPort(store, { networkId, name: 'p1', vnicType: 'vdpa' }, member);
      const read = (await getPort(asUnit(store.db), p.id))!;
      assert.equal(read.physicalNetwork, 'physnet4');
      assert.equal(read.networkName, 'vdpa-net');
      assert.equal(read.mtu, 1500);
      assert.equal(read.vnicType, 'vdpa');
      assert.equal(read.vifType, 'unbound');
      assert.deepEqual(read.fixedIps, [{ subnetId, ipAddress: read.fixedIps[0]!.ipAddress }]);
      assert.equal(await getPort(asUnit(store.db), 'missing'), null);
    });

    test('bind and unbind run inside the caller transaction and roll back with it', { timeout: 300_000 }, async () => {
      const p = await createPort(store, { networkId, vnicType: 'vdpa' }, member);
      await assert.rejects(store.db.transaction().execute(async (tx) => {
        await bindPort(asUnit(tx), p.id, BINDING);
        assert.equal((await getPort(asUnit(tx), p.id))!.hostId, 'host1', 'visible inside the transaction');
        throw new Error('claim lost');
      }), /claim lost/);
      assert.equal((await getPort(asUnit(store.db), p.id))!.hostId, '', 'rolled back');

      await store.db.transaction().execute((tx) => bindPort(asUnit(tx), p.id, BINDING));
      const bound = (await getPort(asUnit(store.db), p.id))!;
      assert.equal(bound.hostId, 'host1');
      assert.equal(bound.deviceId, 'server-1');
      assert.equal(bound.deviceOwner, 'compute:nova');
      assert.equal(bound.status, 'ACTIVE');
      assert.deepEqual(bound.profile, BINDING.profile);
      assert.deepEqual(bound.vifDetails, { port_filter: true });
      assert.equal(bound.revisionNumber, 2);

      await unbindPort(asUnit(store.db), p.id, { keepDeviceId: true });
      const shelved = (await getPort(asUnit(store.db), p.id))!;
      assert.deepEqual([shelved.hostId, shelved.deviceId, shelved.deviceOwner, shelved.vifType, shelved.status],
        ['', 'server-1', 'compute:nova', 'unbound', 'DOWN']);
      assert.deepEqual(shelved.profile, {});
      await unbindPort(asUnit(store.db), p.id);
      const detached = (await getPort(asUnit(store.db), p.id))!;
      assert.deepEqual([detached.deviceId, detached.deviceOwner], ['', '']);
      assert.equal(detached.revisionNumber, 4);
    });

    test('ports of a device, ports by ids (in the order asked) and status changes', { timeout: 300_000 }, async () => {
      const a = await createPort(store, { networkId }, member);
      const b = await createPort(store, { networkId }, member);
      await bindPort(asUnit(store.db), a.id, { ...BINDING, deviceId: 'server-dev' });
      await bindPort(asUnit(store.db), b.id, { ...BINDING, deviceId: 'server-dev' });
      assert.deepEqual((await portsOfDevice(asUnit(store.db), 'server-dev')).map((p) => p.id).sort(), [a.id, b.id].sort());
      assert.deepEqual(await portsOfDevice(asUnit(store.db), ''), []);
      assert.deepEqual((await getPorts(asUnit(store.db), [b.id, 'nope', a.id])).map((p) => p.id), [b.id, a.id]);
      await setPortStatus(asUnit(store.db), [a.id, b.id], 'DOWN');
      assert.deepEqual((await getPorts(asUnit(store.db), [a.id, b.id])).map((p) => p.status), ['DOWN', 'DOWN']);
      assert.deepEqual((await listPorts(asUnit(store.db), { hostIds: ['host1'], deviceIds: ['server-dev'] })).length, 2);
    });

    test('addresses come from the pool in order, the hint skips taken ones, and freed ones are found after wrapping', { timeout: 300_000 }, async () => {
      const net = await createNetwork(store, { name: 'tiny', projectId: 'p-demo', shared: false, physicalNetwork: null, networkType: 'vxlan' });
      const tiny = await createSubnet(store, { name: 't', networkId: net.id, projectId: 'p-demo', cidr: '192.168.9.0/29', ipVersion: 4 });
      assert.deepEqual(tiny.allocationPools, [{ start: '192.168.9.2', end: '192.168.9.6' }]);
      const taken = await createPort(store, { networkId: net.id, fixedIps: [{ ipAddress: '192.168.9.3' }] }, member);
      const ips: string[] = [];
      const ports = [];
      for (let i = 0; i < 4; i++) {
        const p = await createPort(store, { networkId: net.id }, member);
        ports.push(p);
        ips.push(p.fixedIps[0]!.ipAddress);
      }
      assert.deepEqual(ips, ['192.168.9.2', '192.168.9.4', '192.168.9.5', '192.168.9.6']);
      await assert.rejects(createPort(store, { networkId: net.id }, member),
        (e: any) => e.kind === 'conflict' && e.reason === 'IpAddressGenerationFailure');
      await deletePort(store, ports[1]!.id, member);
      const reused = await createPort(store, { networkId: net.id }, member);
      assert.equal(reused.fixedIps[0]!.ipAddress, '192.168.9.4');
      void taken;
      assert.equal((await getNetwork(asUnit(store.db), net.id))!.subnetIds.length, 1);
    });

    test('concurrent port creations get distinct MACs and addresses', { timeout: 300_000 }, async () => {
      const ports = await Promise.all(Array.from({ length: 40 }, (_, i) =>
        createPort(store, { networkId, name: `c${i}`, vnicType: 'vdpa' }, member)));
      const macs = new Set(ports.map((p) => p.macAddress));
      const ips = new Set(ports.map((p) => p.fixedIps[0]!.ipAddress));
      assert.equal(macs.size, 40);
      assert.equal(ips.size, 40);
      for (const p of ports) assert.match(p.macAddress, /^fa:16:3e(:[0-9a-f]{2}){3}$/);
      const rows = await store.db.selectFrom('ip_allocations').select('ip_address').where('subnet_id', '=', subnetId).execute();
      assert.equal(new Set(rows.map((r) => r.ip_address)).size, rows.length);
    });
  });
}

portStorageSuite('SQLite', async () => {
  const store = await openStore(':memory:');
  return { store, done: () => store.close() };
});

/**
 * pg's Pool.end() resolves before the server has seen every connection go;
 * dropping the database then kills the stragglers and their error events
 * crash the process, so wait until the server agrees they are gone.
 */
async function untilDisconnected(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await client.connect();
  try {
    for (let i = 0; i < 100; i++) {
      const r = await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
      if (r.rows[0].n === 0) return;
      await new Promise((res) => setTimeout(res, 20));
    }
  } finally {
    await client.end();
  }
}

portStorageSuite('PostgreSQL', async () => {
  // withPostgresDatabase drops the database when its callback ends, so the suite's lifetime is held open here.
  let release!: () => void;
  let ready!: (s: Store) => void;
  const opened = new Promise<Store>((r) => { ready = r; });
  const finished = withPostgresDatabase(async (url) => {
    const store = await openStore(url);
    ready(store);
    await new Promise<void>((r) => { release = r; });
    await store.close();
    await untilDisconnected(url);
  });
  const store = await Promise.race([opened, finished.then(() => { throw new Error('PostgreSQL database closed early'); })]);
  return { store, done: async () => { release(); await finished; } };
});
