/**
 * Fitting a guest's NUMA topology onto a host's cells: Nova's
 * numa_fit_instance_to_host / _numa_fit_instance_cell and the PCI NUMA
 * affinity of nova/pci/stats.py (_filter_pools_for_numa_cells), as one pure
 * function. The scheduler filter runs it on what a host still has free; the
 * claim runs it again on the rows it locked, and what it returns is claimed.
 */
import type { GuestNumaCell, GuestNumaTopology, PciNumaPolicy } from './guestTopology.js';
import {
  cellUsage, pinnableCpus, sharedCpus, smallPageMemoryMb, SMALL_PAGE_KIB,
  type CellClaim, type HostNumaCell, type HostNumaTopology, type HostNumaUsage,
} from './hostTopology.js';

/** One PCI request as the fit sees it: free matching devices per host NUMA node (null: devices with no NUMA node). */
export interface PciNumaRequest {
  id: string;
  count: number;
  policy: PciNumaPolicy;
  freeByNode: Map<number | null, number>;
}

/** Where a PCI request's devices may come from, tried in order: NUMA nodes, or 'any' node. */
export type DeviceTier = Array<number | null> | 'any';

export interface PlacedCell {
  guestCell: number;
  hostCell: number;
  /** [guest vCPU, host CPU] for each pinned vCPU. */
  pinning: Array<[number, number]>;
  /** Guest vCPUs of the cell that float, and the host CPUs they float on. */
  floatingVcpus: number[];
  floatCpus: number[];
  memoryMb: number;
  pageKiB: number;
}

export interface NumaPlacement {
  cells: PlacedCell[];
  /** Host CPUs QEMU's emulator threads run on. */
  emulatorCpus: number[];
  /** The extra host CPU an `isolate` emulator thread holds (claimed like a pinned vCPU). */
  emulatorPinned: number | null;
  /** Per PCI request id, where its devices come from. */
  deviceTiers: Record<string, DeviceTier[]>;
}

export type FitOutcome = { placement: NumaPlacement } | { placement: null; reason: string };

export interface FitOptions {
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  pci?: PciNumaRequest[];
}

/** Permutations tried at most: a host has a handful of cells, but never let a pathological one stall a decision. */
const MAX_PERMUTATIONS = 5040;

export function fitGuestToHost(host: HostNumaTopology, usage: HostNumaUsage, guest: GuestNumaTopology, opts: FitOptions): FitOutcome {
  if (guest.cells.length > host.cells.length) {
    return { placement: null, reason: `guest has ${guest.cells.length} NUMA nodes, host ${host.cells.length}` };
  }
  const pci = opts.pci ?? [];
  const ordered = orderHostCells(host, usage, pci);
  let reason = 'no host NUMA cell can hold the guest';
  let tried = 0;
  for (const perm of permutations(ordered, guest.cells.length)) {
    if (++tried > MAX_PERMUTATIONS) break;
    const cells: PlacedCell[] = [];
    let emulatorPinned: number | null = null;
    let failed: string | null = null;
    for (let i = 0; i < guest.cells.length && failed === null; i++) {
      const isolateEmulator = i === 0 && guest.emulatorThreadsPolicy === 'isolate';
      const fitted = fitCell(host, perm[i]!, usage, guest, guest.cells[i]!, isolateEmulator, opts);
      if ('reason' in fitted) failed = fitted.reason;
      else {
        cells.push(fitted.cell);
        if (isolateEmulator) emulatorPinned = fitted.emulator;
      }
    }
    if (failed !== null) {
      reason = failed;
      continue;
    }
    const tiers = deviceTiersFor(host, cells.map((c) => c.hostCell), pci);
    if (typeof tiers === 'string') {
      reason = tiers;
      continue;
    }
    return { placement: { cells, emulatorCpus: emulatorCpusOf(host, guest, cells, emulatorPinned), emulatorPinned, deviceTiers: tiers } };
  }
  return { placement: null, reason };
}

/** What a placement takes from each host cell (applyCellClaims). */
export function cellClaimsOf(placement: NumaPlacement): CellClaim[] {
  return placement.cells.map((c, i) => ({
    cell: c.hostCell,
    pinnedCpus: [...c.pinning.map(([, p]) => p), ...(i === 0 && placement.emulatorPinned !== null ? [placement.emulatorPinned] : [])],
    sharedVcpus: c.floatingVcpus.length,
    memoryMb: c.memoryMb,
    pageKiB: c.pageKiB,
  }));
}

/** Cells with devices for the PCI requests first (Nova does the same when PCI is requested), then the freest. */
function orderHostCells(host: HostNumaTopology, usage: HostNumaUsage, pci: PciNumaRequest[]): readonly HostNumaCell[] {
  const cells = host.cells;
  if (cells.length < 2) return cells;
  // Each cell's sort key once (cells are few; the comparator would work them out at every comparison).
  const hasDevices = new Map<HostNumaCell, number>();
  const freeCpus = new Map<HostNumaCell, number>();
  for (const cell of cells) {
    let devices = 0;
    for (const r of pci) if ((r.freeByNode.get(cell.id) ?? 0) > 0) devices = 1;
    hasDevices.set(cell, devices);
    freeCpus.set(cell, pinnableCpus(host, cell).length - cellUsage(usage, cell.id).pinnedCpus.length);
  }
  return [...cells].sort((a, b) =>
    hasDevices.get(b)! - hasDevices.get(a)! || freeCpus.get(b)! - freeCpus.get(a)! || a.id - b.id);
}

function* permutations<T>(items: readonly T[], size: number, prefix: T[] = []): Generator<T[]> {
  // One guest cell (most NFV flavors): each host cell alone, without the recursion's arrays.
  if (size === 1 && prefix.length === 0) {
    for (const item of items) yield [item];
    return;
  }
  if (prefix.length === size) {
    yield prefix;
    return;
  }
  for (const item of items) if (!prefix.includes(item)) yield* permutations(items, size, [...prefix, item]);
}

type CellFit = { cell: PlacedCell; emulator: number | null } | { reason: string };

function fitCell(
  host: HostNumaTopology, cell: HostNumaCell, usage: HostNumaUsage, guest: GuestNumaTopology, gcell: GuestNumaCell,
  isolateEmulator: boolean, opts: FitOptions,
): CellFit {
  const used = cellUsage(usage, cell.id);
  const where = `NUMA cell ${cell.id}`;
  const pageKiB = pageSizeFor(cell, used.memoryMb, used.pages, gcell.memoryMb, guest, gcell.pinnedCpus.length > 0 ? 1 : opts.ramAllocationRatio);
  if (pageKiB === null) return { reason: `${where}: not enough free memory in the requested page size for ${gcell.memoryMb} MB` };

  const pinnedNeeded = gcell.pinnedCpus.length + (isolateEmulator ? 1 : 0);
  let pins: number[] = [];
  if (pinnedNeeded > 0) {
    if (guest.cpuThreadPolicy === 'require') return { reason: `${where}: cpu_thread_policy require needs SMT siblings, the host reports none` };
    const pinnable = pinnableCpus(host, cell);
    const taken = used.pinnedCpus.length > 0 ? new Set(used.pinnedCpus) : null;
    let free = 0;
    for (const c of pinnable) {
      if (taken?.has(c)) continue;
      free += 1;
      if (pins.length < pinnedNeeded) pins.push(c);
    }
    if (free < pinnedNeeded) return { reason: `${where}: needs ${pinnedNeeded} pinned CPUs, ${free} free` };
  }
  const floatCpus = sharedCpus(host, cell);
  if (gcell.cpus.length > 0) {
    const capacity = Math.floor(floatCpus.length * opts.cpuAllocationRatio) - used.sharedVcpus;
    if (gcell.cpus.length > capacity) return { reason: `${where}: needs ${gcell.cpus.length} shared vCPUs, room for ${Math.max(0, capacity)}` };
  }
  return {
    cell: {
      guestCell: gcell.id,
      hostCell: cell.id,
      pinning: gcell.pinnedCpus.map((v, k) => [v, pins[k]!] as [number, number]),
      floatingVcpus: gcell.cpus,
      floatCpus: gcell.cpus.length ? [...floatCpus] : [],
      memoryMb: gcell.memoryMb,
      pageKiB,
    },
    emulator: isolateEmulator ? pins[pins.length - 1]! : null,
  };
}

/**
 * The page size the cell can back the guest cell's memory with, or null
 * (Nova's _numa_cell_supports_pagesize_request: `large` takes every size but
 * the smallest, `any` the largest that fits first).
 */
function pageSizeFor(
  cell: HostNumaCell, smallUsedMb: number, pagesUsed: Record<string, number>, memoryMb: number,
  guest: GuestNumaTopology, ramRatio: number,
): number | null {
  const request = guest.pageSize;
  if (typeof request === 'number' && request !== SMALL_PAGE_KIB) return hugePageFits(cell, pagesUsed, memoryMb, request) ? request : null;
  const huge = hugePageSizes(cell);
  const candidates = request === null || request === 'small' || request === SMALL_PAGE_KIB ? [SMALL_PAGE_KIB]
    : request === 'large' ? huge
      : request === 'any' ? [...huge, SMALL_PAGE_KIB]
        : [request];
  for (const kib of candidates) {
    if (kib === SMALL_PAGE_KIB) {
      // Memory of a pinned guest is never overcommitted (Nova: no ram_allocation_ratio for it).
      if (memoryMb <= Math.floor(smallPageMemoryMb(cell) * ramRatio) - smallUsedMb) return kib;
      continue;
    }
    if (hugePageFits(cell, pagesUsed, memoryMb, kib)) return kib;
  }
  return null;
}

/** The memory comes in whole pages of `kib` and the cell has that many free. */
function hugePageFits(cell: HostNumaCell, pagesUsed: Record<string, number>, memoryMb: number, kib: number): boolean {
  const memKiB = memoryMb * 1024;
  if (memKiB % kib !== 0) return false;
  const free = (cell.hugepages[String(kib)] ?? 0) - (pagesUsed[String(kib)] ?? 0);
  return memKiB / kib <= free;
}

/** The cell's huge page sizes that it has pages of, largest first; once per cell (topologies are read-only once parsed). */
const hugeSizes = new WeakMap<HostNumaCell, number[]>();
function hugePageSizes(cell: HostNumaCell): number[] {
  let sizes = hugeSizes.get(cell);
  if (sizes === undefined) {
    sizes = Object.keys(cell.hugepages).map(Number).filter((k) => cell.hugepages[String(k)]! > 0).sort((a, b) => b - a);
    hugeSizes.set(cell, sizes);
  }
  return sizes;
}

/**
 * Where each PCI request's devices may come from given the chosen cells
 * (nova/pci/stats.py _filter_pools_for_numa_cells): devices on those cells
 * when they suffice; otherwise `required` fails, `socket` takes the cells
 * sharing a socket with them (none without socket data), `legacy` adds
 * devices with no NUMA node, `preferred` takes any device, local first.
 */
export function deviceTiersFor(host: HostNumaTopology, cells: number[], pci: PciNumaRequest[]): Record<string, DeviceTier[]> | string {
  const out: Record<string, DeviceTier[]> = {};
  const sum = (r: PciNumaRequest, nodes: Array<number | null>) => nodes.reduce<number>((n, c) => n + (r.freeByNode.get(c) ?? 0), 0);
  for (const r of pci) {
    const local = sum(r, cells);
    if (local >= r.count) {
      out[r.id] = r.policy === 'preferred' ? [cells, 'any'] : [cells];
      continue;
    }
    switch (r.policy) {
      case 'required':
        return `PCI NUMA affinity policy required: no free device for ${r.id} on NUMA node(s) ${cells.join(',')}`;
      case 'socket': {
        if (host.cells.some((c) => c.socket === null)) return `PCI NUMA affinity policy socket: the host reports no socket for its NUMA cells`;
        const sockets = new Set(host.cells.filter((c) => cells.includes(c.id)).map((c) => c.socket));
        const nodes = host.cells.filter((c) => sockets.has(c.socket)).map((c) => c.id);
        if (sum(r, nodes) < r.count) return `PCI NUMA affinity policy socket: no free device for ${r.id} on the socket(s) of NUMA node(s) ${cells.join(',')}`;
        out[r.id] = [cells, nodes];
        break;
      }
      case 'legacy': {
        const nodes = [...cells, null];
        if (sum(r, nodes) < r.count) return `PCI NUMA affinity policy legacy: no free device for ${r.id} on NUMA node(s) ${cells.join(',')} or without NUMA affinity`;
        out[r.id] = [cells, nodes];
        break;
      }
      case 'preferred': {
        let total = 0;
        for (const n of r.freeByNode.values()) total += n;
        if (total < r.count) return `no free device for ${r.id}`;
        out[r.id] = [cells, 'any'];
        break;
      }
    }
  }
  return out;
}

/**
 * Emulator threads: their own CPU with `isolate`; with `share`, the host's
 * cpu_shared_set when it has one; otherwise wherever the vCPUs run (Nova's
 * libvirt driver does the same).
 */
function emulatorCpusOf(host: HostNumaTopology, guest: GuestNumaTopology, cells: PlacedCell[], isolated: number | null): number[] {
  if (isolated !== null) return [isolated];
  if (guest.emulatorThreadsPolicy === 'share' && host.cpuSharedSet !== null && host.cpuSharedSet.length) return [...host.cpuSharedSet];
  const cpus = new Set<number>();
  for (const c of cells) {
    for (const [, p] of c.pinning) cpus.add(p);
    for (const f of c.floatCpus) cpus.add(f);
  }
  return [...cpus].sort((a, b) => a - b);
}
