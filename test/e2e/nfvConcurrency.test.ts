/**
 * Pinned CPUs and huge pages are claimed in the claim's own transaction
 * (issue 15, "40 concurrent pinned servers on one host never share a CPU"):
 * 40 creates of a 2-vCPU dedicated, 1 GiB-page guest sent at once to the one
 * host of the inventory, which has 64 CPUs (two cells of 32): 32 servers
 * fit. Every ACTIVE server's domain XML pins CPUs no other server has; the
 * ERROR ones hold no claim; the host's numa_topology counts exactly the
 * ACTIVE servers. On SQLite (one process) and on PostgreSQL with two
 * controller processes taking the creates half each.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';

const CREATES = 40;
const VCPUS = 2;
const HOST_CPUS = 64;
const FITS = HOST_CPUS / VCPUS;
const GIB_PAGE = '1048576';
const PAGES_PER_CELL = 24;
const TIMEOUT = { timeout: 300_000 };

type Api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; body: any }>;
type Wait = (id: string) => Promise<any>;

/** One host, two cells of 32 CPUs and 24 one-GiB pages each: room for 32 guests of 2 pinned vCPUs, not 40. */
function pinnedHost() {
  return {
    ...vdpaHost('pinned-0', { vcpus: HOST_CPUS, memoryMb: 262144 }),
    numa_cells: [0, 1].map((id) => ({
      id, socket: id, cpus: `${id * 32}-${id * 32 + 31}`, memory_mb: 131072, hugepages: { [GIB_PAGE]: PAGES_PER_CELL },
    })),
  };
}

/** The host CPUs a domain XML pins its vCPUs to (`<vcpupin vcpu=… cpuset="N"/>`, one CPU each with `dedicated`). */
function pinnedCpus(xml: string): number[] {
  return [...xml.matchAll(/<vcpupin vcpu="\d+" cpuset="(\d+)"\/>/g)].map((m) => Number(m[1]));
}

function cpusOf(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let c = a; c <= (b ?? a); c++) out.push(c);
  }
  return out;
}

/** Lifts the quotas, makes the flavor and fires every create at once (round robin over `apis`); returns the servers as they settle. */
async function raceCreates(apis: Api[], wait: Wait): Promise<{ active: any[]; errored: any[] }> {
  const [first] = apis as [Api];
  const projectId = (await first('GET', '/identity/v3/projects?name=admin')).body.projects[0].id as string;
  const quotas = await first('PUT', `/compute/v2.1/os-quota-sets/${projectId}`, { quota_set: { instances: -1, cores: -1, ram: -1 } });
  assert.equal(quotas.status, 200, JSON.stringify(quotas.body));
  const flavor = await first('POST', '/compute/v2.1/flavors', { flavor: { name: 'pinned.2', vcpus: VCPUS, ram: 1024, disk: 1 } });
  assert.equal(flavor.status, 200, JSON.stringify(flavor.body));
  const specs = await first('POST', `/compute/v2.1/flavors/${flavor.body.flavor.id}/os-extra_specs`,
    { extra_specs: { 'hw:cpu_policy': 'dedicated', 'hw:mem_page_size': '1GB' } });
  assert.equal(specs.status, 200, JSON.stringify(specs.body));
  const image = (await first('GET', '/image/v2/images?name=cirros')).body.images[0].id;

  // No ports (networks "none", 2.37): the race is for the CPUs and pages alone.
  const created = await Promise.all(Array.from({ length: CREATES }, (_, i) => apis[i % apis.length]!('POST', '/compute/v2.1/servers', {
    server: { name: `pinned-${i}`, imageRef: image, flavorRef: flavor.body.flavor.id, networks: 'none' },
  }, { 'OpenStack-API-Version': 'compute 2.37' })));
  for (const r of created) assert.equal(r.status, 202, JSON.stringify(r.body));
  const servers = await Promise.all(created.map((r) => wait(r.body.server.id)));
  return { active: servers.filter((s) => s.status === 'ACTIVE'), errored: servers.filter((s) => s.status === 'ERROR') };
}

/** Every ACTIVE guest pins 2 CPUs no other guest pins; the host counts exactly those; the ERROR ones have no guest and no claim. */
async function assertNeverShared(api: Api, r: { active: any[]; errored: any[] }, allocationsOf: (ids: string[]) => Promise<number>): Promise<void> {
  assert.equal(r.active.length + r.errored.length, CREATES);
  assert.equal(r.active.length, FITS, `ACTIVE ${r.active.length}, ERROR ${r.errored.length}`);
  for (const s of r.errored) assert.equal(s.fault.message, 'No valid host was found.');

  const owner = new Map<number, string>();
  for (const s of r.active) {
    const xml = await api('GET', `/compute/v2.1/servers/${s.id}/domain-xml`);
    assert.equal(xml.status, 200);
    const cpus = pinnedCpus(xml.body.domain_xml);
    assert.equal(cpus.length, VCPUS, xml.body.domain_xml);
    for (const c of cpus) {
      assert.equal(owner.get(c), undefined, `CPU ${c} pinned by ${owner.get(c)} and ${s.id}`);
      owner.set(c, s.id);
    }
  }
  assert.equal(owner.size, FITS * VCPUS);

  const hv = (await api('GET', '/compute/v2.1/os-hypervisors/detail')).body.hypervisors.find((h: any) => h.hypervisor_hostname === 'pinned-0');
  const cells = hv.numa_topology.cells;
  const hostPinned = cells.flatMap((c: any) => cpusOf(c.pinned_cpus)).sort((a: number, b: number) => a - b);
  assert.deepEqual(hostPinned, [...owner.keys()].sort((a, b) => a - b), 'the host counts exactly the ACTIVE guests\' CPUs');
  const freePages = cells.reduce((n: number, c: any) => n + c.hugepages[GIB_PAGE].free, 0);
  assert.equal(freePages, 2 * PAGES_PER_CELL - FITS, 'one 1 GiB page per ACTIVE guest');
  assert.equal(cells.reduce((n: number, c: any) => n + c.memory_mb_used, 0), FITS * 1024);

  for (const s of r.errored) assert.equal((await api('GET', `/compute/v2.1/servers/${s.id}/domain-xml`)).status, 404);
  assert.equal(await allocationsOf(r.errored.map((s) => s.id)), 0, 'an ERROR server holds no allocation');
}

describe('40 concurrent pinned servers on one host never share a CPU', TIMEOUT, () => {
  let aio: AllInOneProcess | undefined;
  let cluster: Cluster | undefined;
  after(async () => {
    await aio?.stop();
    await cluster?.stop();
  });

  test('SQLite, one controller', TIMEOUT, async () => {
    aio = await startAllInOneProcess({ hosts: [pinnedHost()] });
    const a = aio;
    const api: Api = (m, p, b, headers) => a.api(m, p, b, headers ? { headers } : undefined);
    const r = await raceCreates([api], (id) => a.waitForServer(id, ['ACTIVE', 'ERROR'], 240_000));
    await assertNeverShared(api, r, async (ids) => {
      const db = new Database(join(a.dataDir, 'vdpa-compute.sqlite'), { readonly: true, fileMustExist: true });
      try {
        return ids.length === 0 ? 0
          : (db.prepare(`SELECT count(*) AS n FROM allocations WHERE consumer IN (${ids.map(() => '?').join(',')})`).get(...ids) as { n: number }).n;
      } finally {
        db.close();
      }
    });
  });

  test('PostgreSQL, two controllers', TIMEOUT, async () => {
    cluster = await startCluster({ controllers: 2 });
    const c = cluster;
    await c.startAgent(pinnedHost(), { controller: 0 });
    const apis: Api[] = c.controllers.map((ctl) => (m, p, b, headers) => ctl.api(m, p, b, headers));
    const r = await raceCreates(apis, (id) => c.controllers[0]!.waitForServer(id, ['ACTIVE', 'ERROR'], 240_000));
    await assertNeverShared(apis[0]!, r, async (ids) => {
      const [row] = await c.query<{ n: number }>('select count(*)::int as n from allocations where consumer = any($1)', [ids]);
      return row!.n;
    });
  });
});
