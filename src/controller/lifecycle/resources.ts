import type { ResourceRequest } from '../../domain/scheduling/types.js';
import type { PciRequest } from '../../domain/pci/request.js';
import type { FlavorSnapshot } from '../../storage/repositories/instances.js';

export function resourceRequestFor(flavor: FlavorSnapshot, pciRequests: PciRequest[], extra: Partial<ResourceRequest> = {}): ResourceRequest {
  return {
    vcpus: flavor.vcpus,
    memoryMb: flavor.ram,
    diskGb: flavor.disk + flavor.ephemeral + Math.ceil(flavor.swap / 1024),
    pciRequests,
    ...extra,
  };
}
