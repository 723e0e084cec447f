import { fitGuestToHost } from '../../numa/fit.js';
import { pciNumaRequests } from '../../numa/pciRequests.js';
import type { HostFilter } from '../types.js';

/**
 * Nova's NUMATopologyFilter: a guest with a NUMA topology needs host cells
 * with its pinned CPUs, memory in its page size and (by its PCI NUMA
 * affinity policy) its devices. A guest without one passes at once: plain
 * requests pay nothing for this filter.
 */
export const numaTopologyFilter: HostFilter = {
  name: 'NUMATopologyFilter',
  rejects(host, req) {
    if (!req.numa) return null;
    if (!host.numa) return 'host NUMA topology unknown';
    const pci = host.numa.devices ? pciNumaRequests(req.pciRequests, req.numa, host.numa.devices) : undefined;
    const fit = fitGuestToHost(host.numa.topology, host.numa.usage, req.numa.guest, {
      cpuAllocationRatio: host.numa.cpuAllocationRatio, ramAllocationRatio: host.numa.ramAllocationRatio, pci,
    });
    return fit.placement ? null : fit.reason;
  },
};
