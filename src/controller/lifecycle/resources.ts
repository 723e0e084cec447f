import { aggregateSpecsOf } from '../../domain/scheduling/aggregateSpecs.js';
import { shapeOf } from '../../domain/scheduling/filters/numaTopologyFilter.js';
import type { NumaRequest, ResourceRequest } from '../../domain/scheduling/types.js';
import type { PciRequest } from '../../domain/pci/request.js';
import { effectivePciNumaPolicy, guestNumaTopology, pciNumaPolicyOf, type ImageProperties, type PciNumaPolicy } from '../../domain/numa/guestTopology.js';
import type { FlavorSnapshot, InstanceRecord } from '../../storage/repositories/instances.js';

/**
 * The guest's NUMA topology and each PCI request's NUMA affinity policy, or
 * undefined for a guest without a topology (Nova applies PCI NUMA policies
 * only to guests with one). Throws Nova's 400/403 for an invalid request.
 */
export function numaRequestFor(flavor: FlavorSnapshot, pciRequests: PciRequest[], image: ImageProperties = {}): NumaRequest | undefined {
  const guest = guestNumaTopology(flavor, image);
  const flavorPolicy = pciNumaPolicyOf(flavor, image);
  if (!guest) return undefined;
  const pciPolicies: Record<string, PciNumaPolicy> = {};
  for (const r of pciRequests) {
    pciPolicies[r.id] = effectivePciNumaPolicy(
      r.source.kind === 'port' ? { kind: 'port', portPolicy: r.numaPolicy ?? null } : { kind: 'alias', aliasPolicy: r.numaPolicy ?? null },
      flavorPolicy,
    );
  }
  return { guest, pciPolicies };
}

/** What a placement asks of a host: the flavor's resources, aggregate requirements and NUMA topology, the PCI requests. */
export function resourceRequestFor(
  flavor: FlavorSnapshot, pciRequests: PciRequest[], extra: Partial<ResourceRequest> = {},
  /** The instance's image properties (instance.imageProperties): hw_* ones shape the NUMA topology. */
  image: ImageProperties = {},
): ResourceRequest {
  const numa = numaRequestFor(flavor, pciRequests, image);
  const aggregateSpecs = aggregateSpecsOf(flavor.extra_specs ?? {});
  const request: ResourceRequest = {
    vcpus: flavor.vcpus,
    memoryMb: flavor.ram,
    diskGb: flavor.disk + flavor.ephemeral + Math.ceil(flavor.swap / 1024),
    pciRequests,
    ...(aggregateSpecs ? { aggregateSpecs } : {}),
    ...(numa ? { numa } : {}),
    ...extra,
  };
  // Part of building a NUMA request, as the topology is: every decision on it looks the shape up.
  if (request.numa) shapeOf(request);
  return request;
}

/** A server created in a zone stays in it when it moves (Nova keeps the zone of its request spec). */
export function zoneOf(instance: InstanceRecord): Partial<ResourceRequest> {
  return instance.requestedAvailabilityZone ? { availabilityZone: instance.requestedAvailabilityZone } : {};
}

/** A server of a group is placed, and moved, under the group's policy (Nova keeps the group in its request spec). */
export function groupOf(instance: InstanceRecord): Partial<ResourceRequest> {
  return instance.serverGroup ? { serverGroup: instance.serverGroup } : {};
}
