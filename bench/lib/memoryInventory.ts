import type { IndexSource } from '../../src/controller/services/candidateIndex.js';
import { ClaimConflict } from '../../src/domain/errors.js';
import type { HostDevice } from '../../src/domain/pci/device.js';
import { servesRequest } from '../../src/domain/pci/match.js';
import { poolDeltas, summarizePools, type PoolDelta } from '../../src/domain/pci/pools.js';
import type { PciRequest } from '../../src/domain/pci/request.js';
import { allocateDevice } from '../../src/domain/pci/tracker.js';
import type { NumaDeviceCount, ResourceRequest } from '../../src/domain/scheduling/types.js';
import { applyCellClaims, singleCellTopology, type HostNumaTopology, type HostNumaUsage } from '../../src/domain/numa/hostTopology.js';
import { cellClaimsOf, fitGuestToHost, type DeviceTier } from '../../src/domain/numa/fit.js';
import { pciNumaRequests } from '../../src/domain/numa/pciRequests.js';
import type { IndexedHostRow } from '../../src/storage/repositories/candidates.js';
import { fromJson } from '../../src/storage/repositories/json.js';

/** One host as the database would hold it: the compute node's capacity and usage, its service, its devices. */
export interface MemoryHost {
  host: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  ratios: { cpu: number; ram: number; disk: number };
  devices: HostDevice[];
  /** The host's cells (compute_nodes.numa_topology); absent: one cell, as the database reads a null. */
  numa?: HostNumaTopology;
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
  /** The columns as stored: JSON text, parsed by the index as it parses the database's. */
  numaTopologyJson: string | null;
  /** The cells as claimOnHost reads them (one cell of everything when the host reports none). */
  numaTopology: HostNumaTopology;
  /** Free devices per kind and NUMA node, kept as claims take devices (numa.ts deviceCounts). */
  freeByNode: NumaDeviceCount[];
  /** numa_usage as the database stores it: text, parsed by each claim as claimOnHost parses the row it reads. */
  numaUsageJson: string | null;
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
      numaTopologyJson: host.numa ? JSON.stringify(host.numa) : null, numaUsageJson: null,
      numaTopology: host.numa ?? singleCellTopology(host.vcpus, host.memoryMb), freeByNode: freeByNode(devices),
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
      // Parsed by the index only for a request with a NUMA topology.
      numaColumns: {
        vcpus: r.vcpus, memory_mb: r.memoryMb, cpu_allocation_ratio: r.ratios.cpu, ram_allocation_ratio: r.ratios.ram,
        numa_topology: r.numaTopologyJson, numa_usage: r.numaUsageJson,
      },
    };
  }

  /** What the last claim on `host` wrote of its cells' usage (claimOnHost's NumaSettlement). */
  numaUsage(host: string): { json: string; parsed: HostNumaUsage } | undefined {
    return this.lastNuma?.host === host ? this.lastNuma.usage : undefined;
  }

  private lastNuma: { host: string; usage: { json: string; parsed: HostNumaUsage } } | null = null;
  private readonly storedTexts = new Map<string, string>();

  /** Claims the request's resources and devices on `host`; returns the pool changes (ClaimConflict when it does not fit). */
  claim(host: string, request: ResourceRequest, instanceUuid: string): PoolDelta[] {
    const r = this.hosts.get(host);
    if (!r) throw new ClaimConflict(`host ${host} is not registered`);
    if (r.usedVcpus + request.vcpus > r.capVcpus || r.usedRamMb + request.memoryMb > r.capRamMb || r.usedDiskGb + request.diskGb > r.capDiskGb) {
      throw new ClaimConflict(`host ${host} no longer has the resources`);
    }
    // The NUMA part as claimOnHost's claimNumaCells: the fit again on the cells and free devices per node.
    let tiers: Record<string, DeviceTier[]> | null = null;
    if (request.numa) {
      const stored = fromJson<HostNumaUsage>(r.numaUsageJson, {});
      const fit = fitGuestToHost(r.numaTopology, stored, request.numa.guest, {
        cpuAllocationRatio: r.ratios.cpu, ramAllocationRatio: r.ratios.ram,
        pci: pciNumaRequests(request.pciRequests, request.numa, r.freeByNode),
      });
      if (!fit.placement) throw new ClaimConflict(`host ${host}: ${fit.reason}`);
      const usage = applyCellClaims(stored, cellClaimsOf(fit.placement), 1);
      const json = JSON.stringify(usage);
      // The database keeps its copy of the text off the controller's heap; one copy per distinct text here
      // keeps this model from adding garbage collection the controller would not have.
      r.numaUsageJson = this.storedTexts.get(json) ?? (this.storedTexts.set(json, json), json);
      this.lastNuma = { host, usage: { json, parsed: usage } };
      tiers = fit.placement.deviceTiers;
    }
    const changed: PoolDelta[] = [];
    for (const pci of request.pciRequests) {
      for (let n = 0; n < pci.count; n++) {
        const t = tiers?.[pci.id];
        const device = t ? pickInTiers(r, pci, t) : this.pick(r, pci);
        if (!device) throw new ClaimConflict(`host ${host} has no free device for ${pci.id}`);
        const family = device.parentAddr === null
          ? r.devices.filter((d) => d.parentAddr === device.address)
          : [r.byAddress.get(device.parentAddr)].filter((d): d is HostDevice => d !== undefined);
        const changes = allocateDevice(device, family, instanceUuid, 'allocated');
        changed.push(...poolDeltas(new Map([device, ...family].map((d) => [d.id, d])), changes));
        for (const c of changes) {
          const d = c.id === device.id ? device : family.find((f) => f.id === c.id)!;
          if (isFree(d) && c.to !== 'available') countTaken(r.freeByNode, d);
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

/** A device from the NUMA nodes the placement allows, nearest tier first, lowest address first (claims.ts pickInTiers). */
function pickInTiers(r: HostRecord, pci: PciRequest, tiers: DeviceTier[]): HostDevice | undefined {
  for (const tier of tiers) {
    for (let i = r.cursor; i < r.devices.length; i++) {
      const d = r.devices[i]!;
      if (isFree(d) && (tier === 'any' || tier.includes(d.numaNode)) && servesRequest(d, pci.spec)) return d;
    }
  }
  return undefined;
}

function countTaken(counts: NumaDeviceCount[], d: HostDevice): void {
  const c = counts.find((n) => n.devType === d.devType && n.physicalNetwork === (d.physicalNetwork ?? '') && n.vendorId === d.vendorId
    && n.productId === d.productId && n.numaNode === d.numaNode);
  if (c) c.free -= 1;
}

/** Free devices per kind and NUMA node, as numa.ts deviceCounts groups them. */
function freeByNode(devices: HostDevice[]): NumaDeviceCount[] {
  const out = new Map<string, NumaDeviceCount>();
  for (const d of devices) {
    if (!isFree(d)) continue;
    const key = `${d.devType}|${d.physicalNetwork ?? ''}|${d.vendorId}|${d.productId}|${d.numaNode}`;
    const c = out.get(key);
    if (c) c.free += 1;
    else out.set(key, { devType: d.devType, physicalNetwork: d.physicalNetwork ?? '', vendorId: d.vendorId, productId: d.productId, numaNode: d.numaNode, free: 1 });
  }
  return [...out.values()];
}
