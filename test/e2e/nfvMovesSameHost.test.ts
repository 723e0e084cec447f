/**
 * NUMA claims where a move's two claims share a host, or a move fails: a
 * same-host resize (`allow_resize_to_same_host`) holds the old and the new
 * topology on one cell until confirm or revert, and a live migration whose
 * destination fails gives the server back its source pins with nothing left
 * on the destination. With the real `openstack` client.
 */
import { after, before, describe, test } from 'node:test';
import { createPinnedFlavor, numaCellsOf } from '../helpers/nfvFixtures.js';
import assert from 'node:assert/strict';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { domainXml, EMBEDDED_FLAVOR, until } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

const GIB_PAGE = '1048576';
const DEST_FAULT = 'simulated: the guest cannot start here';

/** Two cells of 16 CPUs and 16 one-GiB pages; the NIC on cell 0. */
function nfvHost(name: string, faults?: Record<string, unknown>) {
  return {
    ...vdpaHost(name),
    numa_cells: [
      { id: 0, socket: 0, cpus: '0-15', memory_mb: 65536, hugepages: { [GIB_PAGE]: 16 } },
      { id: 1, socket: 1, cpus: '16-31', memory_mb: 65536, hugepages: { [GIB_PAGE]: 16 } },
    ],
    ...(faults ? { faults } : {}),
  };
}

describe('NFV guests: same-host resize and a failed live migration', { timeout: 600_000 }, () => {
  let aio: AllInOneProcess;
  let serverId: string;
  before(async () => {
    aio = await startAllInOneProcess({
      hosts: [nfvHost('compute-0'), nfvHost('compute-1', { live_migrate: { message: DEST_FAULT, times: 1 } })],
      config: { allow_resize_to_same_host: true },
    });
    for (const [name, vcpus] of [['nfv.2', 2], ['nfv.4', 4]] as const) {
      await createPinnedFlavor(aio, name, vcpus, vcpus * 1024, 'required');
    }
    // Everything lands on compute-0 until the live migration needs compute-1.
    await cli(['compute', 'service', 'set', '--disable', 'compute-1', 'nova-compute']);
  });
  after(async () => { await aio?.stop(); });

  async function cli(args: string[]): Promise<void> {
    const r = await aio.openstack(args);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
  }
  const serverOf = async () => (await aio.api('GET', `/compute/v2.1/servers/${serverId}`, undefined, EMBEDDED_FLAVOR)).body.server;
  const settledAs = (status: string) => until(`the server ${status}`, async () => {
    const s = await serverOf();
    return s.status === status && s['OS-EXT-STS:task_state'] === null ? s : null;
  }, 60_000);
  const cell0 = async (host: string) => (await numaCellsOf(aio, host))[0];
  /** Cell 0 of `host` has exactly these CPUs pinned and one page and GiB per pinned CPU in use. */
  const assertCell0 = async (host: string, pinned: string, count: number, what: string) => {
    const cell = await cell0(host);
    assert.equal(cell.pinned_cpus, pinned, `${what}: ${host}`);
    assert.equal(cell.pinned_cpus_count, count, `${what}: ${host}`);
    assert.equal(cell.memory_mb_used, count * 1024, `${what}: ${host}`);
    assert.deepEqual(cell.hugepages[GIB_PAGE], { total: 16, free: 16 - count }, `${what}: ${host}`);
  };
  /** The domain XML on compute-0 pins vCPU i to cpus[i] (waits for the host to report that definition). */
  const assertPins = async (cpus: number[], what: string) => {
    const last = `<vcpupin vcpu="${cpus.length - 1}" cpuset="${cpus[cpus.length - 1]}"/>`;
    const xml = await until(`${what}: the pins in the domain XML`, async () => {
      const x = await domainXml(aio, serverId);
      return x.host === 'compute-0' && x.domain_xml.includes(last) && !x.domain_xml.includes(`<vcpupin vcpu="${cpus.length}"`) ? x.domain_xml : null;
    });
    cpus.forEach((c, v) => assert.ok(xml.includes(`<vcpupin vcpu="${v}" cpuset="${c}"/>`), `${what}: vCPU ${v}\n${xml}`));
    assertValidDomainXml(xml, what);
  };

  test('same-host resize holds both topologies on the cell; revert gives the old pins back, confirm keeps the new', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'same-port']);
    serverId = (await aio.openstackJson(['server', 'create', '--flavor', 'nfv.2', '--image', 'cirros', '--port', port.id, 'same-vm'])).id;
    assert.equal((await settledAs('ACTIVE'))['OS-EXT-SRV-ATTR:host'], 'compute-0');
    await assertCell0('compute-0', '0-1', 2, 'booted');
    await assertPins([0, 1], 'booted');

    await cli(['server', 'resize', '--flavor', 'nfv.4', 'same-vm']);
    assert.equal((await settledAs('VERIFY_RESIZE'))['OS-EXT-SRV-ATTR:host'], 'compute-0');
    await assertCell0('compute-0', '0-5', 6, 'in VERIFY_RESIZE on one host');
    await assertPins([2, 3, 4, 5], 'resized on its host');
    await cli(['server', 'resize', 'revert', 'same-vm']);
    assert.equal((await settledAs('ACTIVE')).flavor.vcpus, 2);
    await assertCell0('compute-0', '0-1', 2, 'reverted');
    await assertPins([0, 1], 'reverted');

    await cli(['server', 'resize', '--flavor', 'nfv.4', 'same-vm']);
    await settledAs('VERIFY_RESIZE');
    await assertCell0('compute-0', '0-5', 6, 'in VERIFY_RESIZE again');
    await cli(['server', 'resize', 'confirm', 'same-vm']);
    assert.equal((await settledAs('ACTIVE')).flavor.vcpus, 4);
    await assertCell0('compute-0', '2-5', 4, 'confirmed');
    await assertPins([2, 3, 4, 5], 'confirmed');
  });

  test('a live migration whose destination fails: back on the source with its pins, the destination\'s cells free', { timeout: 300_000 }, async () => {
    await cli(['compute', 'service', 'set', '--enable', 'compute-1', 'nova-compute']);
    await cli(['server', 'migrate', '--live-migration', 'same-vm']);
    const server = await settledAs('ACTIVE');
    assert.equal(server['OS-EXT-SRV-ATTR:host'], 'compute-0');
    const [action] = (await aio.api('GET', `/compute/v2.1/servers/${serverId}/os-instance-actions`)).body.instanceActions;
    assert.equal(`${action.action}:${action.result}`, 'live-migration:Error');
    assert.ok(action.message.includes(DEST_FAULT), action.message);
    await assertCell0('compute-1', '', 0, 'rolled back');
    await assertCell0('compute-0', '2-5', 4, 'rolled back');
    await assertPins([2, 3, 4, 5], 'rolled back');
  });

  test('delete frees the cell', { timeout: 300_000 }, async () => {
    await cli(['server', 'delete', '--wait', 'same-vm']);
    await assertCell0('compute-0', '', 0, 'deleted');
    await assertCell0('compute-1', '', 0, 'deleted');
  });
});
