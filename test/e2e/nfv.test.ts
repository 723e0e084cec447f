import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createPinnedFlavor, numaCellsOf } from '../helpers/nfvFixtures.js';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';

const run = promisify(execFile);
const GIB_PAGE = '1048576';

/**
 * Two hosts of two cells each; only cell 1 of each has 1 GiB pages. The NIC
 * sits on cell 0 of compute-0 (far from the pages) and on cell 1 of
 * compute-1 (with them): a guest with huge pages and `required` PCI NUMA
 * affinity fits on compute-1 only.
 */
function nfvHost(name: string, nicCell: number) {
  const host = vdpaHost(name);
  return {
    ...host,
    numa_cells: [
      { id: 0, socket: 0, cpus: '0-15', memory_mb: 65536 },
      { id: 1, socket: 1, cpus: '16-31', memory_mb: 65536, hugepages: { [GIB_PAGE]: 16 } },
    ],
    nics: host.nics.map((n) => ({ ...n, numa_node: nicCell })),
  };
}

async function validates(xml: string): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-nfv-xml-'));
  await writeFile(join(dir, 'domain.xml'), xml);
  const validated = await run('virt-xml-validate', [join(dir, 'domain.xml'), 'domain']);
  assert.match(validated.stdout + validated.stderr, /validates/);
}

describe('NFV guests: pinned CPUs, 1 GiB pages and PCI NUMA affinity with a vdpa port', { timeout: 240_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [nfvHost('compute-0', 0), nfvHost('compute-1', 1)] });
    for (const [name, ram, policy] of [['nfv.required', 4096, 'required'], ['nfv.big', 16384, 'required'], ['nfv.preferred', 4096, 'preferred']] as const) {
      await createPinnedFlavor(aio, name, 4, ram, policy);
    }
  });
  after(async () => { await aio?.stop(); });

  const cellsOf = (host: string) => numaCellsOf(aio, host);
  const boot = async (flavor: string, name: string, portArgs: string[] = []) => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', ...portArgs, `${name}-port`]);
    const created = await aio.openstackJson(['server', 'create', '--flavor', flavor, '--image', 'cirros', '--port', port.id, name]);
    return { server: await aio.waitForServer(created.id, ['ACTIVE', 'ERROR']), port };
  };

  test('required: boots on the host whose NIC cell holds the guest; CPUs and pages come from that cell', { timeout: 300_000 }, async () => {
    const { server } = await boot('nfv.required', 'nfv-1');
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'compute-1');
    const cells = await cellsOf('compute-1');
    assert.equal(cells[1].pinned_cpus, '16-19');
    assert.deepEqual(cells[1].hugepages[GIB_PAGE], { total: 16, free: 12 });
    assert.equal(cells[0].pinned_cpus, '');

    const xml: string = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`)).body.domain_xml;
    for (let v = 0; v < 4; v++) assert.ok(xml.includes(`<vcpupin vcpu="${v}" cpuset="${16 + v}"/>`), xml);
    assert.ok(xml.includes('<emulatorpin cpuset="16-19"/>'));
    assert.ok(xml.includes('<memnode cellid="0" mode="strict" nodeset="1"/>'));
    assert.ok(xml.includes(`<page size="${GIB_PAGE}" unit="KiB" nodeset="0"/>`));
    assert.ok(xml.includes('<cell id="0" cpus="0-3" memory="4096" unit="MiB" memAccess="shared"/>'));
    assert.match(xml, /<locked\/>/);
    await validates(xml);

    const device = (await aio.pci('compute-1')).find((d) => d.instance_uuid === server.id);
    assert.equal(device.numa_node, 1);
  });

  test('required with no host whose NIC cell can hold the guest: ERROR, No valid host was found.', { timeout: 300_000 }, async () => {
    // compute-1's cell 1 has 12 pages left, compute-0's NIC cell has none: 16 GiB fits nowhere next to a NIC.
    const { server } = await boot('nfv.big', 'nfv-big');
    assert.equal(server.status, 'ERROR');
    assert.equal(server.fault.message, 'No valid host was found.');
    assert.deepEqual((await cellsOf('compute-0'))[1].hugepages[GIB_PAGE], { total: 16, free: 16 });
  });

  test('preferred: boots with its memory and CPUs on one cell and the NIC on the other', { timeout: 300_000 }, async () => {
    const { server } = await boot('nfv.preferred', 'nfv-pref');
    assert.equal(server.status, 'ACTIVE');
    const host = server['OS-EXT-SRV-ATTR:host'];
    const xml: string = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`)).body.domain_xml;
    assert.ok(xml.includes('<memnode cellid="0" mode="strict" nodeset="1"/>'));
    await validates(xml);
    const device = (await aio.pci(host)).find((d) => d.instance_uuid === server.id);
    // On compute-0 the NIC is on cell 0, away from the guest; on compute-1 both are on cell 1.
    assert.equal(device.numa_node, host === 'compute-0' ? 0 : 1);
  });

  test('a port numa_affinity_policy beats the flavor: --numa-policy-required on a preferred flavor', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', '--numa-policy-required', 'strict-port']);
    assert.equal(port.numa_affinity_policy, 'required');
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'nfv.preferred', '--image', 'cirros', '--port', port.id, 'nfv-strict']);
    const server = await aio.waitForServer(created.id, ['ACTIVE', 'ERROR']);
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'compute-1');
  });

  test('an invalid topology is a 400 with Nova\'s message', { timeout: 300_000 }, async () => {
    assert.equal((await aio.openstack(['flavor', 'create', '--vcpus', '2', '--ram', '1024', '--disk', '1',
      '--property', 'hw:cpu_thread_policy=isolate', 'nfv.bad'])).code, 0);
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'bad-port']);
    const res = await aio.openstack(['server', 'create', '--flavor', 'nfv.bad', '--image', 'cirros', '--port', port.id, 'nfv-bad']);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /Cannot set cpu thread pinning policy in a non dedicated cpu pinning policy \(HTTP 400\)/);
  });

  test('deleting the servers gives every CPU and page back', { timeout: 300_000 }, async () => {
    for (const name of ['nfv-1', 'nfv-big', 'nfv-pref', 'nfv-strict']) {
      const del = await aio.openstack(['server', 'delete', '--wait', name]);
      assert.equal(del.code, 0, del.stderr);
    }
    for (const host of ['compute-0', 'compute-1']) {
      const cells = await cellsOf(host);
      for (const cell of cells) {
        assert.equal(cell.pinned_cpus, '');
        assert.equal(cell.memory_mb_used, 0);
      }
      // Cell 1 is the one with 1 GiB pages.
      assert.deepEqual(cells.find((cell: any) => cell.id === 1)?.hugepages[GIB_PAGE], { total: 16, free: 16 });
    }
  });
});
