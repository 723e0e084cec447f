/**
 * The doctor against a real state on SQLite and on PostgreSQL: servers
 * booted and moved by the in-process controller and simulated hosts leave a
 * clean audit (also mid-resize with claims on both hosts, shelved, and
 * evacuated with the source's claims held until it is back); inconsistencies
 * planted with SQL are each found; the repair fixes the safe ones, never a
 * live server's claims, and a re-audit finds only the stuck task.
 */
import { after, before, describe, test } from 'node:test';
import { kysely } from '../helpers/storageAccess.js';
import assert from 'node:assert/strict';
import { summarizePools } from '../../src/domain/pci/pools.js';
import { reservedRoom } from '../../src/storage/devices/rowRoom.js';
import { auditDatabase, repairDatabase } from '../../src/storage/repositories/audit.js';
import { deviceFromRow } from '../../src/storage/repositories/pciDevices.js';
import { boot, HOSTS, rigOn, server, until, type Rig } from '../helpers/simulatedRig.js';

const GHOST = '00000000-0000-4000-8000-00000000dead';
const GONE_SERVER = '00000000-0000-4000-8000-0000000000aa';
const GONE_GUEST = '00000000-0000-4000-8000-0000000000bb';

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`vdpa-compute doctor on a real state (${backend})`, { timeout: 120_000 }, () => {
    let rig: Rig;
    const lifetime = rigOn(backend);
    before(async () => { rig = await lifetime.start(); });
    after(() => lifetime.stop());

    const opts = () => ({ now: Date.now(), operationTimeoutSeconds: 300 });
    const settled = (id: string, status: string) => until(`${id} ${status}`, async () => {
      const s = await server(rig, id);
      return s.status === status && s['OS-EXT-STS:task_state'] === null ? s : null;
    });
    const codes = (findings: Array<{ code: string }>) => [...new Set(findings.map((f) => f.code))].sort();

    test('clean after real operations; planted faults found; --fix repairs the safe ones; the stuck task stays', { timeout: 120_000 }, async () => {
      const { store } = rig.tc.ctx;
      const db = kysely(store);
      const a = await boot(rig, `doctor-a-${backend}`);
      const b = await boot(rig, `doctor-b-${backend}`);
      assert.deepEqual(await auditDatabase(store, opts()), []);

      // Mid-resize both hosts hold claims (the source's under the migration): still clean.
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${a.id}/action`, { migrate: null })).status, 202);
      await settled(a.id, 'VERIFY_RESIZE');
      assert.deepEqual(await auditDatabase(store, opts()), []);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${a.id}/action`, { confirmResize: null })).status, 204);
      await settled(a.id, 'ACTIVE');
      assert.deepEqual(await auditDatabase(store, opts()), []);

      // Shelved offloaded: the port keeps device_id with no host, nothing held.
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${a.id}/action`, { shelve: null })).status, 202);
      await settled(a.id, 'SHELVED_OFFLOADED');
      assert.deepEqual(await auditDatabase(store, opts()), []);
      assert.equal((await rig.api('POST', `/compute/v2.1/servers/${a.id}/action`, { unshelve: null })).status, 202);
      await settled(a.id, 'ACTIVE');

      // Evacuated off a host that is down: its claims stay, held by the migration, until it is back.
      const hostOf = async (id: string) => (await server(rig, id))['OS-EXT-SRV-ATTR:host'] as string;
      const source = await hostOf(b.id);
      const serviceId = (await rig.api('GET', `/compute/v2.1/os-services?host=${source}`)).body.services[0].id;
      const forceDown = (down: boolean) => rig.api('PUT', `/compute/v2.1/os-services/${serviceId}`, { forced_down: down }, { 'openstack-api-version': 'compute 2.53' });
      assert.equal((await forceDown(true)).status, 200);
      try {
        const target = HOSTS.find((h) => h !== source)!;
        const evacuated = await rig.api('POST', `/compute/v2.1/servers/${b.id}/action`, { evacuate: { host: target } }, { 'openstack-api-version': 'compute 2.29' });
        assert.equal(evacuated.status, 200, JSON.stringify(evacuated.body));
        await until('evacuated', async () => (await hostOf(b.id)) === target);
        await settled(b.id, 'ACTIVE');
        const heldOnSource = await db.selectFrom('pci_devices').select('consumer').where('host', '=', source).where('instance_uuid', '=', b.id).execute();
        assert.equal(heldOnSource.length, 1);
        assert.notEqual(heldOnSource[0]!.consumer, b.id);
        assert.deepEqual(await auditDatabase(store, opts()), []);
      } finally {
        assert.equal((await forceDown(false)).status, 200);
      }
      await until('the source freed the evacuated server\'s device', async () =>
        (await db.selectFrom('pci_devices').select('id').where('host', '=', source).where('instance_uuid', '=', b.id).execute()).length === 0);
      assert.deepEqual(await auditDatabase(store, opts()), []);

      const hostA = await hostOf(a.id);
      const hostB = await hostOf(b.id);
      const other = HOSTS.find((h) => h !== hostA)!;
      const liveClaims = async () => (await db.selectFrom('pci_devices').select(['host', 'address', 'status', 'consumer', 'instance_uuid'])
        .where('consumer', 'in', [a.id, b.id]).orderBy('host').orderBy('address').execute());
      const claimsBefore = await liveClaims();
      assert.equal(claimsBefore.length, 2);

      // 1. A VF beside server a's, claimed by a consumer that does not exist (pools not told).
      const spare = await db.selectFrom('pci_devices').selectAll().where('host', '=', hostA).where('dev_type', '=', 'vdpa')
        .where('status', '=', 'available').orderBy('address').executeTakeFirstOrThrow();
      await db.updateTable('pci_devices').set({ status: 'allocated', instance_uuid: GHOST, consumer: GHOST, reserved: reservedRoom('allocated', GHOST, GHOST) })
        .where('id', '=', spare.id).execute();
      // 2. A pool's free count off by one.
      await db.updateTable('pci_pools').set((eb) => ({ free: eb('free', '+', 1) })).where('host', '=', other).where('dev_type', '=', 'vdpa').execute();
      // 3. A guest record of a server that is gone.
      await db.insertInto('guests').values({
        instance_uuid: GONE_GUEST, host: other, desired_state: 'running', spec: '{}', generation: 1, observed_generation: 1,
        observed_state: 'running', domain_xml: null, error: null, updated_at: new Date().toISOString(),
      }).execute();
      // 4. A port bound to a server that was deleted.
      const net = (await rig.api('GET', '/network/v2.0/networks?name=vdpa-net')).body.networks[0];
      const port = (await rig.api('POST', '/network/v2.0/ports', { port: { name: `doctor-port-${backend}`, network_id: net.id } })).body.port;
      await db.updateTable('ports').set({ device_id: GONE_SERVER, device_owner: 'compute:nova', host_id: hostA, vif_type: 'ovs' })
        .where('id', '=', port.id).execute();
      // 5. A task far past its deadline.
      await db.updateTable('instances').set({ task_state: 'powering-off', task_changed_at: '2000-01-01T00:00:00.000Z' }).where('uuid', '=', b.id).execute();
      // 6. Compute-node usage its allocations do not add up to.
      await db.updateTable('compute_nodes').set((eb) => ({ vcpus_used: eb('vcpus_used', '+', 3) })).where('host', '=', other).execute();
      // 7. Server b's PF available while its VF is allocated.
      await db.updateTable('pci_devices').set({ status: 'available', reserved: reservedRoom('available', null, null) })
        .where('host', '=', hostB).where('dev_type', '=', 'type-PF').execute();

      const found = await auditDatabase(store, opts());
      assert.deepEqual(codes(found), [
        'claim-of-missing-consumer', 'compute-node-usage-mismatch', 'device-status-wrong', 'guest-of-missing-server',
        'pool-count-mismatch', 'port-bound-to-missing-server', 'task-past-deadline',
      ], JSON.stringify(found, null, 1));
      const one = (code: string) => found.filter((f) => f.code === code);
      assert.deepEqual(one('claim-of-missing-consumer').map((f) => f.ids), [{ consumer: GHOST, hosts: [hostA], devices: [`${hostA}/${spare.address}`] }]);
      assert.deepEqual(one('guest-of-missing-server').map((f) => f.ids), [{ server: GONE_GUEST, host: other }]);
      assert.deepEqual(one('port-bound-to-missing-server').map((f) => f.ids), [{ port: port.id, server: GONE_SERVER, host: hostA }]);
      assert.deepEqual(one('task-past-deadline').map((f) => [f.ids.server, f.fix]), [[b.id, null]]);
      assert.deepEqual(one('compute-node-usage-mismatch').map((f) => f.ids), [{ host: other }]);
      assert.deepEqual(one('device-status-wrong').map((f) => f.ids.host), [hostB]);
      assert.ok(one('pool-count-mismatch').some((f) => f.ids.host === other && f.ids.pool === 'vdpa/physnet0/15b3:101e'));
      assert.ok(one('pool-count-mismatch').some((f) => f.ids.host === hostA && f.ids.pool === 'vdpa/physnet0/15b3:101e'));

      const { found: before, repaired } = await repairDatabase(store, opts());
      assert.deepEqual(codes(before), codes(found));
      assert.deepEqual(codes(repaired), codes(found).filter((c) => c !== 'task-past-deadline'));
      const remaining = await auditDatabase(store, opts());
      assert.deepEqual(remaining.map((f) => [f.code, f.ids.server, f.fix]), [['task-past-deadline', b.id, null]]);

      // The live servers' claims are as they were; the planted faults are gone.
      assert.deepEqual(await liveClaims(), claimsBefore);
      const ghostRow = await db.selectFrom('pci_devices').selectAll().where('id', '=', spare.id).executeTakeFirstOrThrow();
      assert.deepEqual([ghostRow.status, ghostRow.consumer, ghostRow.instance_uuid, ghostRow.reserved], ['available', null, null, reservedRoom('available', null, null)]);
      const unbound = (await rig.api('GET', `/network/v2.0/ports/${port.id}`)).body.port;
      assert.deepEqual([unbound.device_id, unbound['binding:host_id']], ['', '']);
      assert.equal((await db.selectFrom('guests').select('host').where('instance_uuid', '=', GONE_GUEST).execute()).length, 0);
      for (const host of HOSTS) {
        const devices = (await db.selectFrom('pci_devices').selectAll().where('host', '=', host).execute()).map(deviceFromRow);
        const pools = await db.selectFrom('pci_pools').selectAll().where('host', '=', host).execute();
        assert.deepEqual(pools.map((p) => [p.dev_type, p.free, p.total]).sort(), summarizePools(devices).map((p) => [p.devType, p.free, p.total]).sort());
        const node = await db.selectFrom('compute_nodes').selectAll().where('host', '=', host).executeTakeFirstOrThrow();
        const held = [a.id, b.id].filter((id, i) => (i === 0 ? hostA : hostB) === host).length;
        assert.deepEqual([node.vcpus_used, node.running_vms], [held, held], host);
        // The counting rule again: 1 PF + 4 VFs, a held VF also takes its PF.
        assert.equal(devices.filter((d) => d.status === 'available').length, held ? 4 - held : 5, host);
      }

      // The engine (here: the operator) ends the stuck task: clean.
      await db.updateTable('instances').set({ task_state: null, task_changed_at: null }).where('uuid', '=', b.id).execute();
      assert.deepEqual(await auditDatabase(store, opts()), []);
    });
  });
}
