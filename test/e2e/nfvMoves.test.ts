/**
 * NUMA claims through every move, with the real `openstack` client: a guest
 * with dedicated CPUs, 1 GiB pages and `required` PCI NUMA affinity is
 * resized (revert, then confirm), cold migrated, live migrated, evacuated
 * and deleted. After each step os-hypervisors `numa_topology` counts what
 * each host's cells hold, and the domain XML on the host the server runs on
 * pins that host's CPUs and cell (never the source's: Nova's NUMA-aware live
 * migration rewrites the guest's pins for the destination, so does every
 * move here).
 */
import { after, before, describe, test } from 'node:test';
import { createPinnedFlavor, numaCellsOf } from '../helpers/nfvFixtures.js';
import assert from 'node:assert/strict';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { domainXml, EMBEDDED_FLAVOR, lastMigration, until } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

const GIB_PAGE = '1048576';
const HOSTS = ['compute-0', 'compute-1'] as const;
/** The NIC's cell: 0 on compute-0, 1 on compute-1, so a move changes the guest's cell and CPUs. */
const nicCell = (host: string) => (host === 'compute-0' ? 0 : 1);
const other = (host: string) => (host === 'compute-0' ? 'compute-1' : 'compute-0');
/** The first `n` CPUs of the NIC's cell: what a `required` guest of n vCPUs is pinned to there (CPUs 0-15 / 16-31). */
const pinsOn = (host: string, n: number) => Array.from({ length: n }, (_, i) => nicCell(host) * 16 + i);
const cpuList = (cpus: number[]) => (cpus.length === 0 ? '' : cpus.length === 1 ? `${cpus[0]}` : `${cpus[0]}-${cpus[cpus.length - 1]}`);

/** Two hosts of two cells each, 16 one-GiB pages on every cell. */
function nfvHost(name: string) {
  const host = vdpaHost(name);
  return {
    ...host,
    numa_cells: [
      { id: 0, socket: 0, cpus: '0-15', memory_mb: 65536, hugepages: { [GIB_PAGE]: 16 } },
      { id: 1, socket: 1, cpus: '16-31', memory_mb: 65536, hugepages: { [GIB_PAGE]: 16 } },
    ],
    nics: host.nics.map((n) => ({ ...n, numa_node: nicCell(name) })),
  };
}

/** What a host's cells should hold: per guest on it, its vCPUs (= pages, 1 GiB each) on the NIC's cell. */
type Held = Record<string, number[]>;

describe('NFV guests through resize, migration, live migration, evacuate and delete', { timeout: 600_000 }, () => {
  let aio: AllInOneProcess;
  let serverId: string;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: HOSTS.map(nfvHost) });
    for (const [name, vcpus] of [['nfv.2', 2], ['nfv.4', 4]] as const) {
      await createPinnedFlavor(aio, name, vcpus, vcpus * 1024, 'required');
    }
  });
  after(async () => { await aio?.stop(); });

  const cellsOf = (host: string) => numaCellsOf(aio, host);

  /** Every cell of both hosts counts exactly the guests `held` names (host → vCPU counts of the guests there). */
  const assertCells = async (held: Held, what: string) => {
    for (const host of HOSTS) {
      const guests = held[host] ?? [];
      const cells = await cellsOf(host);
      for (const cell of cells) {
        const onCell = cell.id === nicCell(host) ? guests : [];
        // Two guests on one cell (a resize's source and destination on one host) do not happen here.
        assert.ok(onCell.length <= 1, what);
        const vcpus = onCell[0] ?? 0;
        const at = `${what}: ${host} cell ${cell.id}`;
        assert.equal(cell.pinned_cpus, cpuList(pinsOn(host, vcpus)), at);
        assert.equal(cell.pinned_cpus_count, vcpus, at);
        assert.equal(cell.memory_mb_used, vcpus * 1024, at);
        assert.deepEqual(cell.hugepages[GIB_PAGE], { total: 16, free: 16 - vcpus }, at);
      }
    }
  };

  /** The guest definition on `host` pins the server's vCPUs to that host's NIC-cell CPUs, its memory to that cell's pages. */
  const assertPinnedOn = async (host: string, vcpus: number, what: string) => {
    const cpus = pinsOn(host, vcpus);
    const xml = await until(`${what}: the domain XML on ${host}`, async () => {
      const x = await domainXml(aio, serverId);
      return x.host === host && x.domain_xml.includes(`<vcpupin vcpu="${vcpus - 1}" cpuset="${cpus[vcpus - 1]}"/>`) ? x.domain_xml : null;
    });
    for (let v = 0; v < vcpus; v++) assert.ok(xml.includes(`<vcpupin vcpu="${v}" cpuset="${cpus[v]}"/>`), `${what}: vCPU ${v}\n${xml}`);
    assert.ok(xml.includes(`<emulatorpin cpuset="${cpuList(cpus)}"/>`), `${what}\n${xml}`);
    assert.ok(xml.includes(`<memnode cellid="0" mode="strict" nodeset="${nicCell(host)}"/>`), `${what}\n${xml}`);
    assert.ok(xml.includes(`<cell id="0" cpus="0-${vcpus - 1}" memory="${vcpus * 1024}" unit="MiB" memAccess="shared"/>`), `${what}\n${xml}`);
    assert.ok(xml.includes(`<page size="${GIB_PAGE}" unit="KiB" nodeset="0"/>`), `${what}\n${xml}`);
    assertValidDomainXml(xml, what);
    // Its vdpa device is the one on that cell.
    const device = (await aio.pci(host)).find((d) => d.instance_uuid === serverId && d.status === 'allocated');
    assert.equal(device?.numa_node, nicCell(host), what);
  };

  const serverOf = async () => (await aio.api('GET', `/compute/v2.1/servers/${serverId}`, undefined, EMBEDDED_FLAVOR)).body.server;
  const settledAs = (status: string, host?: string) => until(`the server ${status}${host ? ` on ${host}` : ''}`, async () => {
    const s = await serverOf();
    return s.status === status && s['OS-EXT-STS:task_state'] === null && (!host || s['OS-EXT-SRV-ATTR:host'] === host) ? s : null;
  }, 60_000);
  const cli = async (args: string[]) => {
    const r = await aio.openstack(args);
    assert.equal(r.code, 0, `openstack ${args.join(' ')}: ${r.stderr}`);
  };

  let source: string;

  test('boot: pinned to the NIC cell of its host', { timeout: 300_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'moves-port']);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'nfv.2', '--image', 'cirros', '--port', port.id, 'moves-vm']);
    serverId = created.id;
    const server = await settledAs('ACTIVE');
    source = server['OS-EXT-SRV-ATTR:host'];
    await assertCells({ [source]: [2] }, 'after boot');
    await assertPinnedOn(source, 2, 'after boot');
  });

  test('resize to 4 vCPUs, then revert: the new topology held on the destination until the revert gives it back', { timeout: 300_000 }, async () => {
    const dest = other(source);
    await cli(['server', 'resize', '--flavor', 'nfv.4', 'moves-vm']);
    await settledAs('VERIFY_RESIZE', dest);
    // Both claims while the resize waits: the old topology on the source (the migration's), the new on the destination.
    await assertCells({ [source]: [2], [dest]: [4] }, 'in VERIFY_RESIZE');
    await assertPinnedOn(dest, 4, 'resized');

    await cli(['server', 'resize', 'revert', 'moves-vm']);
    await settledAs('ACTIVE', source);
    await until('the destination freed', async () => (await cellsOf(dest))[nicCell(dest)].pinned_cpus_count === 0);
    await assertCells({ [source]: [2] }, 'after revert');
    await assertPinnedOn(source, 2, 'reverted');
    assert.equal((await serverOf()).flavor.vcpus, 2);
  });

  test('resize to 4 vCPUs, then confirm: the old topology on the source is freed', { timeout: 300_000 }, async () => {
    const dest = other(source);
    await cli(['server', 'resize', '--flavor', 'nfv.4', 'moves-vm']);
    await settledAs('VERIFY_RESIZE', dest);
    await assertCells({ [source]: [2], [dest]: [4] }, 'in VERIFY_RESIZE');
    await cli(['server', 'resize', 'confirm', 'moves-vm']);
    await settledAs('ACTIVE', dest);
    await assertCells({ [dest]: [4] }, 'after confirm');
    await assertPinnedOn(dest, 4, 'confirmed');
    assert.equal((await serverOf()).flavor.vcpus, 4);
    source = dest;
  });

  test('cold migration: new pins on the destination, the source freed on confirm', { timeout: 300_000 }, async () => {
    const dest = other(source);
    await cli(['server', 'migrate', 'moves-vm']);
    await settledAs('VERIFY_RESIZE', dest);
    await assertCells({ [source]: [4], [dest]: [4] }, 'migrated, not confirmed');
    await assertPinnedOn(dest, 4, 'migrated');
    await cli(['server', 'migration', 'confirm', 'moves-vm']);
    await settledAs('ACTIVE', dest);
    await assertCells({ [dest]: [4] }, 'after the migration\'s confirm');
    source = dest;
  });

  test('live migration: the guest arrives pinned to the destination\'s CPUs, the source freed', { timeout: 300_000 }, async () => {
    const dest = other(source);
    await cli(['server', 'migrate', '--live-migration', 'moves-vm']);
    await settledAs('ACTIVE', dest);
    assert.equal((await lastMigration(aio, serverId)).status, 'completed');
    await assertCells({ [dest]: [4] }, 'after live migration');
    await assertPinnedOn(dest, 4, 'live migrated');
    source = dest;
  });

  test('evacuate: claimed again on the destination; the source keeps its claim until it is back', { timeout: 300_000 }, async () => {
    const dest = other(source);
    await cli(['compute', 'service', 'set', '--down', source, 'nova-compute']);
    try {
      // `nova evacuate` (novaclient): OSC 6.0's `server evacuate` sends the request, then fails on its own answer (a TupleWithMeta).
      const evac = await aio.nova(['evacuate', 'moves-vm']);
      assert.equal(evac.code, 0, evac.stderr);
      await settledAs('ACTIVE', dest);
      await assertCells({ [source]: [4], [dest]: [4] }, 'evacuated, source down');
      await assertPinnedOn(dest, 4, 'evacuated');
    } finally {
      await cli(['compute', 'service', 'set', '--up', source, 'nova-compute']);
    }
    await until('the source freed', async () => (await cellsOf(source))[nicCell(source)].pinned_cpus_count === 0);
    await assertCells({ [dest]: [4] }, 'after evacuate, source back');
    source = dest;
  });

  test('a resize to a flavor whose topology is invalid is Nova\'s 400 and changes nothing', { timeout: 300_000 }, async () => {
    assert.equal((await aio.openstack(['flavor', 'create', '--vcpus', '2', '--ram', '2048', '--disk', '1',
      '--property', 'hw:cpu_thread_policy=isolate', 'nfv.bad'])).code, 0);
    const r = await aio.openstack(['server', 'resize', '--flavor', 'nfv.bad', 'moves-vm']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cannot set cpu thread pinning policy in a non dedicated cpu pinning policy \(HTTP 400\)/);
    const server = await settledAs('ACTIVE', source);
    assert.equal(server.flavor.vcpus, 4);
    await assertCells({ [source]: [4] }, 'after the refused resize');
  });

  test('in place: reboot, suspend and resume, rebuild, a port added and removed keep the pins; shelve offloads (frees), unshelve claims again', { timeout: 300_000 }, async () => {
    const held = { [source]: [4] };
    await cli(['server', 'reboot', '--hard', 'moves-vm']);
    await settledAs('ACTIVE', source);
    await assertCells(held, 'after a hard reboot');
    await assertPinnedOn(source, 4, 'rebooted');

    await cli(['server', 'suspend', 'moves-vm']);
    await settledAs('SUSPENDED', source);
    await assertCells(held, 'suspended');
    await cli(['server', 'resume', 'moves-vm']);
    await settledAs('ACTIVE', source);
    await assertCells(held, 'resumed');
    await assertPinnedOn(source, 4, 'resumed');

    await cli(['server', 'rebuild', '--image', 'cirros', 'moves-vm']);
    await settledAs('ACTIVE', source);
    await assertCells(held, 'rebuilt');
    await assertPinnedOn(source, 4, 'rebuilt');

    // The guest is defined again with the new NIC: still pinned where it was.
    const extra = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'moves-port-2']);
    await cli(['server', 'add', 'port', 'moves-vm', extra.id]);
    await settledAs('ACTIVE', source);
    await until('the added NIC in the domain XML', async () => (await domainXml(aio, serverId)).domain_xml.includes(`<mac address="${extra.mac_address}"/>`));
    await assertPinnedOn(source, 4, 'a port added');
    await cli(['server', 'remove', 'port', 'moves-vm', extra.id]);
    await settledAs('ACTIVE', source);
    await until('the NIC gone from the domain XML', async () => !(await domainXml(aio, serverId)).domain_xml.includes(`<mac address="${extra.mac_address}"/>`));
    await assertPinnedOn(source, 4, 'the port removed');
    await assertCells(held, 'after the port came and went');

    await cli(['server', 'shelve', 'moves-vm']);
    await settledAs('SHELVED_OFFLOADED');
    await assertCells({}, 'shelved and offloaded');
    await cli(['server', 'unshelve', 'moves-vm']);
    const back = await settledAs('ACTIVE');
    source = back['OS-EXT-SRV-ATTR:host'];
    await assertCells({ [source]: [4] }, 'unshelved');
    await assertPinnedOn(source, 4, 'unshelved');
  });

  test('delete: every CPU, page and MiB back', { timeout: 300_000 }, async () => {
    await cli(['server', 'delete', '--wait', 'moves-vm']);
    await assertCells({}, 'after delete');
  });
});
