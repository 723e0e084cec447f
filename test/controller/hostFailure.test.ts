import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostInventory, simulatedFunctions } from '../../src/domain/inventory/hostInventory.js';
import { applyDeviceSpecs, parseDeviceSpecs } from '../../src/domain/pci/deviceSpec.js';
import { createAgentLink } from '../../src/controller/services/agentLink.js';
import { failWorkOnDownHosts } from '../../src/controller/lifecycle/hostFailure.js';
import { getInstance } from '../../src/storage/repositories/instances.js';
import { devicesOfHost } from '../../src/storage/repositories/pciDevices.js';
import { startTestController } from '../helpers/testController.js';
import { kysely, asUnit } from '../helpers/storageAccess.js';

const HOSTS = `
- name: silent-0
  vcpus: 8
  memory_mb: 16384
  disk_gb: 100
  versions: { kernel: 6.1.0, libvirt: 9.0.0, qemu: 7.2.0 }
  device_spec: [{ vendor_id: "15b3", product_id: "101e", physical_network: physnet0 }]
  nics: [{ pf: "0000:06:00.0", vendor_id: "15b3", product_id: "101d", numa_node: 0, vfs: 2, vf_product_id: "101e", vdpa: true }]
`;

test('a build whose only host goes down is tried elsewhere, then ends in ERROR with its device and port released, not stuck in BUILD', { timeout: 120_000 }, async () => {
  const tc = await startTestController({ config: { service_down_time: 1 } });
  try {
    const [entry] = parseHostInventory(HOSTS, 'test');
    const link = createAgentLink(tc.ctx);
    // A host that registers and then never answers: no agent works its guests.
    await link.registerHost({
      host: 'silent-0', serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '127.0.0.1', vcpus: 8, memoryMb: 16384,
      diskGb: 100, versions: entry!.versions, vdpaUnsupportedReason: null,
    });
    await link.reportInventory({ host: 'silent-0', devices: applyDeviceSpecs(parseDeviceSpecs(entry!.deviceSpec), simulatedFunctions(entry!)) });
    const token = await tc.token('admin');
    const headers = { 'x-auth-token': token, 'content-type': 'application/json' };
    const nets = await (await fetch(`${tc.url}/network/v2.0/networks?name=vdpa-net`, { headers })).json();
    const port = await (await fetch(`${tc.url}/network/v2.0/ports`, {
      method: 'POST', headers, body: JSON.stringify({ port: { network_id: nets.networks[0].id, 'binding:vnic_type': 'vdpa' } }),
    })).json();
    const images = await (await fetch(`${tc.url}/image/v2/images?name=cirros`, { headers })).json();
    const created = await (await fetch(`${tc.url}/compute/v2.1/servers`, {
      method: 'POST', headers,
      body: JSON.stringify({ server: { name: 'orphan', imageRef: images.images[0].id, flavorRef: '1', networks: [{ port: port.port.id }] } }),
    })).json();
    const id = created.server.id;
    for (let i = 0; i < 100 && (await getInstance(tc.ctx.store.reader, id))?.taskState !== 'spawning'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await getInstance(tc.ctx.store.reader, id))?.taskState, 'spawning');
    assert.equal(await failWorkOnDownHosts(tc.ctx), 0, 'nothing happens while the host is up');

    await new Promise((r) => setTimeout(r, 1300));
    assert.equal(await failWorkOnDownHosts(tc.ctx), 1);
    // The failed attempt goes back to scheduling; with no other host, the reschedule ends the build.
    for (let i = 0; i < 200 && (await getInstance(tc.ctx.store.reader, id))?.taskState !== null; i++) await new Promise((r) => setTimeout(r, 20));
    const failed = (await getInstance(tc.ctx.store.reader, id))!;
    assert.equal(failed.vmState, 'error');
    assert.equal(failed.taskState, null);
    assert.match(failed.fault!.message, /silent-0 went down/);
    assert.ok((await devicesOfHost(tc.ctx.store.reader, 'silent-0')).every((d) => d.status === 'available'));
    const unbound = await (await fetch(`${tc.url}/network/v2.0/ports/${port.port.id}`, { headers })).json();
    assert.equal(unbound.port.device_id, '');
    assert.equal(unbound.port['binding:host_id'], '');
  } finally {
    await tc.close();
  }
});
