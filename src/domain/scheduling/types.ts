import type { HostAggregateMetadata } from './aggregateSpecs.js';
import type { Pool } from '../pci/pools.js';
import type { PciRequest } from '../pci/request.js';
import type { GuestNumaTopology, PciNumaPolicy } from '../numa/guestTopology.js';
import type { HostNumaTopology, HostNumaUsage } from '../numa/hostTopology.js';

/** Free devices of one kind on one NUMA node of a host (null: devices that report no node). */
export interface NumaDeviceCount {
  devType: string;
  physicalNetwork: string;
  vendorId: string;
  productId: string;
  numaNode: number | null;
  free: number;
}

/** What the NUMA filter knows of a host: its cells, what claims hold of them, and (when read) its free devices per node. */
export interface HostNumaState {
  topology: HostNumaTopology;
  usage: HostNumaUsage;
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  /** Absent where the source does not read devices per node (the candidate index): the claim checks them. */
  devices?: NumaDeviceCount[];
}

/** A guest with a NUMA topology: the topology and each PCI request's NUMA affinity policy. */
export interface NumaRequest {
  guest: GuestNumaTopology;
  pciPolicies: Record<string, PciNumaPolicy>;
}

/** What the filters and weighers know of one host: a summary, never its device list. */
export interface HostState {
  host: string;
  enabled: boolean;
  up: boolean;
  freeVcpus: number;
  freeRamMb: number;
  freeDiskGb: number;
  totalRamMb: number;
  pools: Pool[];
  /** The host's availability zones; set when the request asks for one. */
  zones?: string[];
  /** Its aggregates' metadata; set when the request has aggregate requirements. */
  aggregateMetadata?: HostAggregateMetadata;
  /** Present when the request has a NUMA topology (only then is it read). */
  numa?: HostNumaState;
}

export interface ResourceRequest {
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  pciRequests: PciRequest[];
  /** Only these hosts (live migration with --host, unshelve to a host). */
  onlyHosts?: string[];
  /** Never these hosts (the source of a move, unless resize to the same host is allowed). */
  excludeHosts?: string[];
  /** Only hosts of this availability zone. */
  availabilityZone?: string;
  /** The flavor's `aggregate_instance_extra_specs:` requirements (prefix stripped). */
  aggregateSpecs?: Record<string, string>;
  /** The guest's NUMA topology (pinned CPUs, huge pages, PCI NUMA affinity); absent for a plain guest. */
  numa?: NumaRequest;
  /** The server group the server belongs to (the `group` hint): the scheduler reads its policy and members in the placement's transaction. */
  serverGroup?: string;
  /** That group's policy and members per host, as the placement's transaction read them (set by the scheduler). */
  group?: GroupPlacement;
}

/** A filter says why a host cannot take the request, or null when it can. */
export interface HostFilter {
  readonly name: string;
  rejects(host: HostState, request: ResourceRequest): string | null;
}

/** A weigher scores a host; scores are normalised to 0..1 across candidates, then multiplied. */
export interface HostWeigher {
  readonly name: string;
  readonly multiplier: number;
  weigh(host: HostState, request: ResourceRequest): number;
}

/** Nova's server group policies (os-server-groups; soft ones from 2.15). */
export type GroupPolicy = 'anti-affinity' | 'affinity' | 'soft-anti-affinity' | 'soft-affinity';

/**
 * What a placement knows of its server's group, read inside the placement's
 * transaction after the group's lock: the policy and how many of the other
 * members hold resources on each host.
 */
export interface GroupPlacement {
  id: string;
  policy: GroupPolicy;
  /** Anti-affinity's limit of members per host (Nova's default 1). */
  maxServerPerHost: number;
  membersOnHost: Record<string, number>;
}
