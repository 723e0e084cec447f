import type { HostAggregateMetadata } from './aggregateSpecs.js';
import type { Pool } from '../pci/pools.js';
import type { PciRequest } from '../pci/request.js';

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
