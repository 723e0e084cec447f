import type { PciRequest } from '../pci/request.js';
import { servesRequest } from '../pci/match.js';
import type { NumaDeviceCount, NumaRequest } from '../scheduling/types.js';
import type { PciNumaRequest } from './fit.js';

/** The fit's view of a request's PCI devices: per NUMA node, how many free devices could serve each PCI request. */
export function pciNumaRequests(requests: PciRequest[], numa: NumaRequest, devices: NumaDeviceCount[]): PciNumaRequest[] {
  return requests.map((r) => {
    const freeByNode = new Map<number | null, number>();
    // A count has a pool's traits (PciTraits): the rule reads it as it is.
    for (const d of devices) {
      if (d.free > 0 && servesRequest(d, r.spec)) freeByNode.set(d.numaNode, (freeByNode.get(d.numaNode) ?? 0) + d.free);
    }
    return { id: r.id, count: r.count, policy: numa.pciPolicies[r.id] ?? 'legacy', freeByNode };
  });
}
