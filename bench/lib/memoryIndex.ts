import type { HostDevice } from '../../src/domain/pci/device.js';
import { poolDeltas, poolKeyOf, poolKeyString, summarizePools, type Pool } from '../../src/domain/pci/pools.js';
import { allocateDevice } from '../../src/domain/pci/tracker.js';
import { selectHosts } from '../../src/domain/scheduling/pipeline.js';
import type { HostState, ResourceRequest } from '../../src/domain/scheduling/types.js';

interface HostEntry {
  state: HostState;
  /** The pool the index is keyed on (null when the host has none). */
  pool: Pool | null;
  devices: HostDevice[];
  /** Devices of the indexed pool, by address. */
  candidates: HostDevice[];
  byAddress: Map<string, HostDevice>;
  inUse: HostDevice[];
  /** Devices before this index are known not to be free (claims only move forward here). */
  cursor: number;
}

/**
 * The scheduling decision in memory: a candidate index keyed by free devices
 * of the requested kind (buckets of equal free counts, so taking the best
 * `limit` hosts costs O(limit) whatever the host count), Nova's filters and
 * weighers (selectHosts) over those candidates, and the tracker's
 * allocateDevice on the chosen host, whose pools and index entry then move.
 */
export class MemoryScheduler {
  private readonly hosts = new Map<string, HostEntry>();
  private readonly buckets: Array<Set<string>> = [];
  private maxFree = 0;

  constructor(private readonly poolKey: string, private readonly limit = 20) {}

  add(state: Omit<HostState, 'pools'>, devices: HostDevice[]): void {
    const sorted = [...devices].sort((a, b) => (a.address < b.address ? -1 : 1));
    const pools = summarizePools(sorted);
    const entry: HostEntry = {
      state: { ...state, pools }, pool: pools.find((p) => poolKeyString(p) === this.poolKey) ?? null, devices: sorted,
      candidates: sorted.filter((d) => poolKeyString(poolKeyOf(d)) === this.poolKey),
      byAddress: new Map(sorted.map((d) => [d.address, d])), inUse: [], cursor: 0,
    };
    this.hosts.set(state.host, entry);
    this.index(entry, +1);
  }

  private freeOf(entry: HostEntry): number {
    return entry.pool?.free ?? 0;
  }

  private index(entry: HostEntry, dir: 1 | -1): void {
    const free = this.freeOf(entry);
    if (dir === 1) {
      (this.buckets[free] ??= new Set()).add(entry.state.host);
      this.maxFree = Math.max(this.maxFree, free);
    } else {
      this.buckets[free]?.delete(entry.state.host);
    }
  }

  candidates(need: number): HostState[] {
    const out: HostState[] = [];
    for (let free = this.maxFree; free >= need && out.length < this.limit; free--) {
      const bucket = this.buckets[free];
      if (!bucket || bucket.size === 0) {
        if (free === this.maxFree) this.maxFree -= 1;
        continue;
      }
      for (const host of bucket) {
        out.push(this.hosts.get(host)!.state);
        if (out.length === this.limit) break;
      }
    }
    return out;
  }

  /** One decision: returns the chosen host and device, or null when no host fits. */
  decide(request: ResourceRequest, instanceUuid: string): { host: string; device: HostDevice } | null {
    const pci = request.pciRequests[0]!;
    const { ranked } = selectHosts(this.candidates(pci.count), request);
    for (const chosen of ranked) {
      const entry = this.hosts.get(chosen.host)!;
      while (entry.cursor < entry.candidates.length) {
        const d = entry.candidates[entry.cursor]!;
        if (d.status === 'available' && !d.missing) break;
        entry.cursor += 1;
      }
      const device = entry.candidates[entry.cursor];
      if (!device) continue;
      const parent = device.parentAddr ? entry.byAddress.get(device.parentAddr) : undefined;
      const family = parent ? [parent, ...entry.inUse] : entry.inUse;
      const changes = allocateDevice(device, family, instanceUuid, 'allocated');
      const deltas = poolDeltas(new Map([device, ...family].map((d) => [d.id, d])), changes);
      this.index(entry, -1);
      for (const c of changes) {
        const d = c.id === device.id ? device : family.find((f) => f.id === c.id)!;
        d.status = c.to;
        d.instanceUuid = c.instanceUuid;
      }
      for (const delta of deltas) {
        const k = poolKeyString(delta.key);
        const pool = entry.state.pools.find((p) => p.devType === delta.key.devType && poolKeyString(p) === k);
        if (pool) pool.free += delta.freeDelta;
      }
      entry.state.freeVcpus -= request.vcpus;
      entry.state.freeRamMb -= request.memoryMb;
      entry.state.freeDiskGb -= request.diskGb;
      entry.inUse.push(device);
      this.index(entry, +1);
      return { host: chosen.host, device };
    }
    return null;
  }
}
