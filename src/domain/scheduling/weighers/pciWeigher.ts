import type { HostWeigher } from '../types.js';

/**
 * Keep PCI-rich hosts for requests that need devices: a request without PCI
 * devices prefers hosts with fewer free devices; one with PCI devices prefers
 * hosts with more, which also spreads device claims.
 */
export const pciWeigher: HostWeigher = {
  name: 'PCIWeigher',
  multiplier: 1.0,
  weigh(host, req) {
    const free = host.pools.reduce((n, p) => n + p.free, 0);
    return req.pciRequests.length > 0 ? free : -free;
  },
};
