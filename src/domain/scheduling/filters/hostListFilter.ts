import type { HostFilter } from '../types.js';

/** Honours a requested destination and keeps moves off their source host. */
export const hostListFilter: HostFilter = {
  name: 'HostListFilter',
  rejects(host, req) {
    if (req.onlyHosts && !req.onlyHosts.includes(host.host)) return 'not the requested host';
    if (req.excludeHosts?.includes(host.host)) return 'excluded for this operation';
    return null;
  },
};
