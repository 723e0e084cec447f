/**
 * A host's NUMA cells and what guests use of them. Nova keeps the same in
 * NUMATopology / NUMACell (cpuset, pcpuset, pinned_cpus, memory_usage,
 * mempages): here the topology is what the host reports and the usage what
 * the claims add up to, kept apart so a re-registration never loses claims.
 */
import { formatCpuSpec } from './cpuSet.js';

/** Page sizes in KiB, as Nova and Linux (hugepages-<n>kB) count them. */
export const SMALL_PAGE_KIB = 4;

export interface HostNumaCell {
  id: number;
  /** physical_package_id of the cell's CPUs; null when unknown (the `socket` PCI policy then matches nothing). */
  socket: number | null;
  cpus: number[];
  memoryMb: number;
  /** Huge pages per size in KiB (never the 4 KiB small pages): how many the cell has. */
  hugepages: Record<string, number>;
}

export interface HostNumaTopology {
  cells: HostNumaCell[];
  /** `[compute] cpu_dedicated_set`: CPUs guests are pinned to. null: every CPU may be pinned (legacy). */
  cpuDedicatedSet: number[] | null;
  /** `[compute] cpu_shared_set`: CPUs unpinned guests float on. null: every CPU not dedicated. */
  cpuSharedSet: number[] | null;
}

/** What claims hold of one cell. */
export interface NumaCellUsage {
  pinnedCpus: number[];
  /** Unpinned vCPUs of guests with a topology placed on the cell. */
  sharedVcpus: number;
  /** Small-page memory claimed on the cell. */
  memoryMb: number;
  /** Huge pages claimed, per size in KiB. */
  pages: Record<string, number>;
}

export type HostNumaUsage = Record<string, NumaCellUsage>;

export function emptyCellUsage(): NumaCellUsage {
  return { pinnedCpus: [], sharedVcpus: 0, memoryMb: 0, pages: {} };
}

export function cellUsage(usage: HostNumaUsage, cellId: number): NumaCellUsage {
  return usage[String(cellId)] ?? emptyCellUsage();
}

/**
 * A cell's pinnable and shared CPUs, worked out once per cell and CPU sets:
 * every fit asks for them (per candidate host and again in the claim), and
 * topologies are read-only once parsed.
 */
interface CellCpus {
  dedicatedSet: number[] | null;
  sharedSet: number[] | null;
  pinnable: number[];
  shared: number[];
}
const cellCpus = new WeakMap<HostNumaCell, CellCpus>();

function cpusOf(host: HostNumaTopology, cell: HostNumaCell): CellCpus {
  const known = cellCpus.get(cell);
  if (known && known.dedicatedSet === host.cpuDedicatedSet && known.sharedSet === host.cpuSharedSet) return known;
  const made = {
    dedicatedSet: host.cpuDedicatedSet, sharedSet: host.cpuSharedSet,
    pinnable: computePinnableCpus(host, cell), shared: computeSharedCpus(host, cell),
  };
  cellCpus.set(cell, made);
  return made;
}

/** CPUs of the cell guests may be pinned to (callers must not change the array). */
export function pinnableCpus(host: HostNumaTopology, cell: HostNumaCell): readonly number[] {
  return cpusOf(host, cell).pinnable;
}

/** CPUs of the cell unpinned vCPUs (and shared emulator threads) float on (callers must not change the array). */
export function sharedCpus(host: HostNumaTopology, cell: HostNumaCell): readonly number[] {
  return cpusOf(host, cell).shared;
}

function computePinnableCpus(host: HostNumaTopology, cell: HostNumaCell): number[] {
  if (host.cpuDedicatedSet === null) return cell.cpus;
  const dedicated = new Set(host.cpuDedicatedSet);
  return cell.cpus.filter((c) => dedicated.has(c));
}

function computeSharedCpus(host: HostNumaTopology, cell: HostNumaCell): number[] {
  if (host.cpuSharedSet !== null) {
    const shared = new Set(host.cpuSharedSet);
    return cell.cpus.filter((c) => shared.has(c));
  }
  if (host.cpuDedicatedSet === null) return cell.cpus;
  const dedicated = new Set(host.cpuDedicatedSet);
  return cell.cpus.filter((c) => !dedicated.has(c));
}

/** Small-page memory of a cell: what its huge pages do not take. */
export function smallPageMemoryMb(cell: HostNumaCell): number {
  let huge = 0;
  for (const [kib, count] of Object.entries(cell.hugepages)) huge += (Number(kib) * count) / 1024;
  return cell.memoryMb - huge;
}

/** One host without a numa_cells entry is one cell holding every CPU and all memory (no huge pages). */
export function singleCellTopology(vcpus: number, memoryMb: number): HostNumaTopology {
  return {
    cells: [{ id: 0, socket: null, cpus: Array.from({ length: vcpus }, (_, i) => i), memoryMb, hugepages: {} }],
    cpuDedicatedSet: null,
    cpuSharedSet: null,
  };
}

/** What a claim takes from (sign 1) or gives back to (sign -1) each cell. */
export interface CellClaim {
  cell: number;
  pinnedCpus: number[];
  sharedVcpus: number;
  memoryMb: number;
  /** Size in KiB of the pages the memory comes in; SMALL_PAGE_KIB counts as memoryMb. */
  pageKiB: number;
}

export function applyCellClaims(usage: HostNumaUsage, claims: CellClaim[], sign: 1 | -1): HostNumaUsage {
  // A copy per cell (cheaper than structuredClone: every claim makes one).
  const out: HostNumaUsage = {};
  for (const [id, u] of Object.entries(usage)) {
    out[id] = { pinnedCpus: [...(u.pinnedCpus ?? [])], sharedVcpus: u.sharedVcpus ?? 0, memoryMb: u.memoryMb ?? 0, pages: { ...u.pages } };
  }
  for (const claim of claims) {
    const u = (out[String(claim.cell)] ??= emptyCellUsage());
    if (sign === 1) u.pinnedCpus = [...new Set([...u.pinnedCpus, ...claim.pinnedCpus])].sort((a, b) => a - b);
    else {
      const freed = new Set(claim.pinnedCpus);
      u.pinnedCpus = u.pinnedCpus.filter((c) => !freed.has(c));
    }
    u.sharedVcpus = Math.max(0, u.sharedVcpus + sign * claim.sharedVcpus);
    if (claim.pageKiB === SMALL_PAGE_KIB) {
      u.memoryMb = Math.max(0, u.memoryMb + sign * claim.memoryMb);
    } else {
      const key = String(claim.pageKiB);
      const pages = (claim.memoryMb * 1024) / claim.pageKiB;
      u.pages[key] = Math.max(0, (u.pages[key] ?? 0) + sign * pages);
      if (u.pages[key] === 0) delete u.pages[key];
    }
  }
  return out;
}

/** The admin-only `numa_topology` of os-hypervisors detail (vdpa-compute's shape of Nova's host NUMA cells). */
export function numaTopologyView(host: HostNumaTopology, usage: HostNumaUsage): Record<string, unknown> {
  return {
    cells: host.cells.map((cell) => {
      const u = cellUsage(usage, cell.id);
      const hugepages: Record<string, { total: number; free: number }> = {};
      for (const [kib, total] of Object.entries(cell.hugepages)) hugepages[kib] = { total, free: total - (u.pages[kib] ?? 0) };
      return {
        id: cell.id,
        socket: cell.socket,
        cpus: formatCpuSpec(cell.cpus),
        pinned_cpus: formatCpuSpec(u.pinnedCpus),
        pinned_cpus_count: u.pinnedCpus.length,
        shared_vcpus_used: u.sharedVcpus,
        memory_mb: cell.memoryMb,
        memory_mb_used: u.memoryMb + Object.entries(u.pages).reduce((n, [kib, c]) => n + (Number(kib) * c) / 1024, 0),
        hugepages,
      };
    }),
    cpu_dedicated_set: host.cpuDedicatedSet === null ? null : formatCpuSpec(host.cpuDedicatedSet),
    cpu_shared_set: host.cpuSharedSet === null ? null : formatCpuSpec(host.cpuSharedSet),
  };
}
