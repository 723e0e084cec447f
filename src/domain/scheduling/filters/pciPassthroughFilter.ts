import { poolsSatisfy } from '../../pci/pools.js';
import type { HostFilter } from '../types.js';

/** Enough free devices of the requested kinds (vdpa, VF, PF, alias), physnet included. */
export const pciPassthroughFilter: HostFilter = {
  name: 'PciPassthroughFilter',
  rejects(host, req) {
    if (req.pciRequests.length === 0) return null;
    return poolsSatisfy(host.pools, req.pciRequests) ? null : 'not enough free PCI devices of the requested kind';
  },
};
