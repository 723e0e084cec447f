import { aggregateSpecsOf } from '../../domain/scheduling/aggregateSpecs.js';
import type { ResourceRequest } from '../../domain/scheduling/types.js';
import type { PciRequest } from '../../domain/pci/request.js';
import type { FlavorSnapshot, InstanceRecord } from '../../storage/repositories/instances.js';

/** What a placement asks of a host: the flavor's resources and aggregate requirements, the PCI requests. */
export function resourceRequestFor(flavor: FlavorSnapshot, pciRequests: PciRequest[], extra: Partial<ResourceRequest> = {}): ResourceRequest {
  const aggregateSpecs = aggregateSpecsOf(flavor.extra_specs ?? {});
  return {
    vcpus: flavor.vcpus,
    memoryMb: flavor.ram,
    diskGb: flavor.disk + flavor.ephemeral + Math.ceil(flavor.swap / 1024),
    pciRequests,
    ...(aggregateSpecs ? { aggregateSpecs } : {}),
    ...extra,
  };
}

/** A server created in a zone stays in it when it moves (Nova keeps the zone of its request spec). */
export function zoneOf(instance: InstanceRecord): Partial<ResourceRequest> {
  return instance.requestedAvailabilityZone ? { availabilityZone: instance.requestedAvailabilityZone } : {};
}
