/**
 * The host's NUMA cells from Linux sysfs, as Nova's libvirt driver sees them:
 * devices/system/node/nodeN/{cpulist, meminfo, hugepages/hugepages-<n>kB/nr_hugepages}
 * and the socket of the cell's CPUs (cpuK/topology/physical_package_id).
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCpuSpec } from '../../domain/numa/cpuSet.js';
import type { HostNumaCell } from '../../domain/numa/hostTopology.js';

const NODE = /^node(\d+)$/;
const HUGEPAGES = /^hugepages-(\d+)kB$/;

async function readText(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** "Node 0 MemTotal:       65843808 kB" → MiB. */
function memTotalMb(meminfo: string | null): number {
  const m = meminfo && /MemTotal:\s+(\d+)\s*kB/.exec(meminfo);
  return m ? Math.floor(Number(m[1]) / 1024) : 0;
}

/** The NUMA cells under `root` (normally /sys), by id; [] on a kernel without NUMA (no node directory). */
export async function discoverNumaCells(root: string): Promise<HostNumaCell[]> {
  const nodes = join(root, 'devices/system/node');
  const ids = (await list(nodes)).map((n) => NODE.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1]));
  const cells = await Promise.all(ids.map(async (id): Promise<HostNumaCell> => {
    const dir = join(nodes, `node${id}`);
    const cpus = parseCpuSpec((await readText(join(dir, 'cpulist'))) ?? '');
    const hugepages: Record<string, number> = {};
    for (const entry of await list(join(dir, 'hugepages'))) {
      const m = HUGEPAGES.exec(entry);
      if (!m) continue;
      const count = Number((await readText(join(dir, 'hugepages', entry, 'nr_hugepages'))) ?? '0');
      if (count > 0) hugepages[m[1]!] = count;
    }
    let socket: number | null = null;
    if (cpus.length) {
      const pkg = (await readText(join(dir, `cpu${cpus[0]}`, 'topology/physical_package_id')))
        ?? (await readText(join(root, 'devices/system/cpu', `cpu${cpus[0]}`, 'topology/physical_package_id')));
      socket = pkg !== null && /^\d+$/.test(pkg) ? Number(pkg) : null;
    }
    return { id, socket, cpus, memoryMb: memTotalMb(await readText(join(dir, 'meminfo'))), hugepages };
  }));
  return cells.sort((a, b) => a.id - b.id);
}
