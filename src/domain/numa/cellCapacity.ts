/**
 * What each of a host's cells still has free, summed up once per version of
 * the host's NUMA columns, and a quick test against a guest that only says
 * "cannot fit" when the full fit (fit.ts) would say so too: the candidate
 * index walks past full hosts with it, without running the fit on them.
 */
import type { GuestNumaTopology } from './guestTopology.js';
import { cellUsage, pinnableCpus, SMALL_PAGE_KIB, type HostNumaTopology, type HostNumaUsage } from './hostTopology.js';

export interface CellCapacity {
  /** Pinnable CPUs no guest holds. */
  freePinnable: number;
  /** Free huge pages per size in KiB. */
  freePages: Array<[kib: number, free: number]>;
}

export function cellCapacities(topology: HostNumaTopology, usage: HostNumaUsage): CellCapacity[] {
  return topology.cells.map((cell) => {
    const used = cellUsage(usage, cell.id);
    const pinned = new Set(used.pinnedCpus);
    return {
      freePinnable: pinnableCpus(topology, cell).filter((c) => !pinned.has(c)).length,
      freePages: Object.entries(cell.hugepages).map(([kib, n]) => [Number(kib), n - (used.pages[kib] ?? 0)] as [number, number]),
    };
  });
}

/**
 * False when no cell can hold the guest's smallest cell: too few free
 * pinnable CPUs for its pinned vCPUs, or (for a huge page size or `large`)
 * too few free pages for its memory. A lower bound of the fit's own checks
 * (which add threads, emulator CPUs, devices and every guest cell), so a
 * host it rejects the fit rejects too.
 */
export function mayHold(capacities: CellCapacity[], guest: GuestNumaTopology): boolean {
  if (guest.cells.length === 0) return true;
  let minPinned = Infinity;
  let minMemoryMb = Infinity;
  for (const g of guest.cells) {
    minPinned = Math.min(minPinned, g.pinnedCpus.length);
    minMemoryMb = Math.min(minMemoryMb, g.memoryMb);
  }
  const size = guest.pageSize;
  const huge = size === 'large' || (typeof size === 'number' && size !== SMALL_PAGE_KIB);
  return capacities.some((c) => c.freePinnable >= minPinned && (!huge || c.freePages.some(([kib, free]) =>
    (size === 'large' || kib === size) && free * kib >= minMemoryMb * 1024)));
}
