import type { HostFilter } from '../types.js';

/** A disabled or down compute service takes no new servers. */
export const computeFilter: HostFilter = {
  name: 'ComputeFilter',
  rejects(host) {
    if (!host.enabled) return 'compute service is disabled';
    if (!host.up) return 'compute service is down';
    return null;
  },
};
