import type { IndexSource } from '../../src/controller/services/candidateIndex.js';
import { ClaimConflict } from '../../src/domain/errors.js';
import type { HostDevice } from '../../src/domain/pci/device.js';
import { servesRequest } from '../../src/domain/pci/match.js';
import { poolDeltas, summarizePools, type PoolDelta } from '../../src/domain/pci/pools.js';
import type { PciRequest } from '../../src/domain/pci/request.js';
import { allocateDevice } from '../../src/domain/pci/tracker.js';
import type { ResourceRequest } from '../../src/domain/scheduling/types.js';
import type { IndexedHostRow } from '../../src/storage/repositories/candidates.js';

/** One host as the database would hold it: the compute node's capacity and usage, its service, its devices. */
export interface MemoryHost {
  host: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  ratios: { cpu: number; ram: number; disk: number };
  devices: HostDevice[];
}

interface HostRecord extends MemoryHost {
  /** Capacity with the allocation ratios applied, as indexedHostRows computes it from the node row. */
  capVcpus: number;
  capRamMb: number;
  capDiskGb: number;
  usedVcpus: number;
  usedRamMb: number;
  usedDiskGb: number;
  byAddress: Map<string, HostDevice>;
  /** Devices before this position are not free (nothing is released here, so it only moves forward). */
  cursor: number;
}

/**
 * The database's side of the in-memory decision, kept in memory: the rows
 * the controller's CandidateIndex reads (`source`, the shape of
 * indexedHostRows), and the claim on a host with the domain's own rules:
 * the lowest-addressed free device the rule (servesRequest) lets serve each
 * PCI request, as claimOnHost's pick orders them, allocateDevice over the
 * family claimOnHost reads (a VF's PF; a PF's children), and the pool
 * changes poolDeltas makes of it, which settle the index's reservation.
 */
export class MemoryInventory {
  private readonly hosts = new Map<string, HostRecord>();

  constructor(private readonly lastSeenUp: number) {}

  add(host: MemoryHost): void {
    const devices = [...host.devices].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    this.hosts.set(host.host, {
      ...host, devices,
      capVcpus: Math.floor(host.vcpus * host.ratios.cpu), capRamMb: Math.floor(host.memoryMb * host.ratios.ram),
      capDiskGb: Math.floor(host.diskGb * host.ratios.disk), usedVcpus: 0, usedRamMb: 0, usedDiskGb: 0,
      byAddress: new Map(devices.map((d) => [d.address, d])), cursor: 0,
    });
  }

  /** The candidate index's source: every host, or the given ones, read from the current state. */
  readonly source: IndexSource = async (hosts) => {
    const records = hosts ? hosts.flatMap((h) => this.hosts.get(h) ?? []) : [...this.hosts.values()];
    return records.map((r) => this.rowOf(r));
  };

  private rowOf(r: HostRecord): IndexedHostRow {
    return {
      host: r.host, hasService: true, disabled: false, forcedDown: false, lastSeenUp: this.lastSeenUp,
      freeVcpus: r.capVcpus - r.usedVcpus, freeRamMb: r.capRamMb - r.usedRamMb, freeDiskGb: r.capDiskGb - r.usedDiskGb,
      totalRamMb: r.memoryMb, pools: summarizePools(r.devices),
      // No NUMA topology: the benchmark's request has none, so the index never parses these.
      numaColumns: {
        vcpus: r.vcpus, memory_mb: r.memoryMb, cpu_allocation_ratio: r.ratios.cpu, ram_allocation_ratio: r.ratios.ram,
        numa_topology: null, numa_usage: null,
      },
    };
  }

  /** Claims the request's resources and devices on `host`; returns the pool changes (ClaimConflict when it does not fit). */
  claim(host: string, request: ResourceRequest, instanceUuid: string): PoolDelta[] {
    const r = this.hosts.get(host);
    if (!r) throw new ClaimConflict(`host ${host} is not registered`);
    if (r.usedVcpus + request.vcpus > r.capVcpus || r.usedRamMb + request.memoryMb > r.capRamMb || r.usedDiskGb + request.diskGb > r.capDiskGb) {
      throw new ClaimConflict(`host ${host} no longer has the resources`);
    }
    const changed: PoolDelta[] = [];
    for (const pci of request.pciRequests) {
      for (let n = 0; n < pci.count; n++) {
        const device = this.pick(r, pci);
        if (!device) throw new ClaimConflict(`host ${host} has no free device for ${pci.id}`);
        const family = device.parentAddr === null
          ? r.devices.filter((d) => d.parentAddr === device.address)
          : [r.byAddress.get(device.parentAddr)].filter((d): d is HostDevice => d !== undefined);
        const changes = allocateDevice(device, family, instanceUuid, 'allocated');
        changed.push(...poolDeltas(new Map([device, ...family].map((d) => [d.id, d])), changes));
        for (const c of changes) {
          const d = c.id === device.id ? device : family.find((f) => f.id === c.id)!;
          d.status = c.to;
          d.instanceUuid = c.instanceUuid;
        }
      }
    }
    r.usedVcpus += request.vcpus;
    r.usedRamMb += request.memoryMb;
    r.usedDiskGb += request.diskGb;
    return changed;
  }

  private pick(r: HostRecord, pci: PciRequest): HostDevice | undefined {
    while (r.cursor < r.devices.length && !isFree(r.devices[r.cursor]!)) r.cursor += 1;
    for (let i = r.cursor; i < r.devices.length; i++) {
      const d = r.devices[i]!;
      if (isFree(d) && servesRequest(d, pci.spec)) return d;
    }
    return undefined;
  }
}

const isFree = (d: HostDevice) => d.status === 'available' && !d.missing;
