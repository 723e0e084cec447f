/**
 * GET /compute/v2.1/os-vdpa-fleet (the dashboard's one read): every host with
 * its service state, each NIC with its devices and the server and port holding
 * each; ETag/304 for polls; `?host=`; admins only. On SQLite and PostgreSQL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { boot, rigOn, type Rig } from '../helpers/simulatedRig.js';

for (const backend of ['sqlite', 'postgres'] as const) {
  describe(`os-vdpa-fleet (${backend})`, { timeout: 60_000 }, () => {
    const on = rigOn(backend);
    let rig: Rig;
    before(async () => { rig = await on.start(); });
    after(() => on.stop());

    test('lists every host, its PF and vDPA devices; a booted server names its device and port', { timeout: 120_000 }, async () => {
      const empty = await rig.api('GET', '/compute/v2.1/os-vdpa-fleet');
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body.hosts.map((h: any) => [h.host, h.state, h.status, h.forced_down, h.service_version, h.vdpa_unsupported_reason, h.numa_cells]),
        [['compute-0', 'up', 'enabled', false, 66, null, null], ['compute-1', 'up', 'enabled', false, 66, null, null]]);
      const nic = empty.body.hosts[0].nics[0];
      assert.deepEqual([nic.address, nic.dev_type, nic.status, nic.physical_network, nic.numa_node], ['0000:06:00.0', 'type-PF', 'available', 'physnet0', 0]);
      assert.deepEqual(nic.functions.map((d: any) => [d.address, d.dev_type, d.status, d.vdpa_chardev, d.server_id, d.port_id]), [
        ['0000:06:00.1', 'vdpa', 'available', '/dev/vhost-vdpa-0', null, null],
        ['0000:06:00.2', 'vdpa', 'available', '/dev/vhost-vdpa-1', null, null],
        ['0000:06:00.3', 'vdpa', 'available', '/dev/vhost-vdpa-2', null, null],
        ['0000:06:00.4', 'vdpa', 'available', '/dev/vhost-vdpa-3', null, null],
      ]);
      assert.deepEqual(empty.body.hosts[0].other_devices, []);

      const vm = await boot(rig, 'fleet-vm');
      const one = await rig.api('GET', `/compute/v2.1/os-vdpa-fleet?host=${vm.host}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.hosts.map((h: any) => h.host), [vm.host]);
      const [pf] = one.body.hosts[0].nics;
      assert.equal(pf.status, 'unavailable');
      const held = pf.functions.filter((d: any) => d.server_id !== null);
      assert.deepEqual(held.map((d: any) => [d.status, d.server_id, d.server_name, d.port_id]), [['allocated', vm.id, 'fleet-vm', vm.portId]]);
      const port = (await rig.api('GET', `/network/v2.0/ports/${vm.portId}`)).body.port;
      assert.equal(held[0].address, port['binding:profile'].pci_slot);
      assert.equal((await rig.api('DELETE', `/compute/v2.1/servers/${vm.id}`)).status, 204);
    });

    test('answers 304 to a poll whose ETag still holds, and 200 with a new one after a change', { timeout: 120_000 }, async () => {
      const first = await fetch(`${rig.tc.url}/compute/v2.1/os-vdpa-fleet`, { headers: { 'x-auth-token': await rig.tc.token('admin') } });
      assert.equal(first.status, 200);
      const etag = first.headers.get('etag')!;
      assert.match(etag, /^"[\w-]+"$/);
      const again = await fetch(`${rig.tc.url}/compute/v2.1/os-vdpa-fleet`, { headers: { 'x-auth-token': await rig.tc.token('admin'), 'if-none-match': etag } });
      assert.equal(again.status, 304);
      assert.equal(await again.text(), '');
      assert.equal((await rig.api('PUT', '/compute/v2.1/os-services/disable', { host: 'compute-1', binary: 'nova-compute' })).status, 200);
      const changed = await fetch(`${rig.tc.url}/compute/v2.1/os-vdpa-fleet`, { headers: { 'x-auth-token': await rig.tc.token('admin'), 'if-none-match': etag } });
      assert.equal(changed.status, 200);
      assert.notEqual(changed.headers.get('etag'), etag);
      const body = await changed.json() as any;
      assert.deepEqual(body.hosts.map((h: any) => h.status), ['enabled', 'disabled']);
    });

    test('unknown host 404, member 403 (compute error format)', { timeout: 120_000 }, async () => {
      const missing = await rig.api('GET', '/compute/v2.1/os-vdpa-fleet?host=compute-9');
      assert.deepEqual(missing, { status: 404, body: { itemNotFound: { code: 404, message: 'Compute host compute-9 could not be found.' } } });
      const res = await fetch(`${rig.tc.url}/compute/v2.1/os-vdpa-fleet`, { headers: { 'x-auth-token': await rig.tc.token('demo') } });
      assert.equal(res.status, 403);
      assert.deepEqual(await res.json(), { forbidden: { code: 403, message: "Policy doesn't allow vdpa-compute:os-vdpa-fleet to be performed." } });
    });
  });
}
