import type { HostFilter } from '../types.js';
import { groupRejects } from '../serverGroups.js';

/** Nova's ServerGroupAffinityFilter: once the group runs somewhere, only there. */
export const serverGroupAffinityFilter: HostFilter = {
  name: 'ServerGroupAffinityFilter',
  rejects(host, req) {
    return req.group?.policy === 'affinity' ? groupRejects(host.host, req.group) : null;
  },
};

/** Nova's ServerGroupAntiAffinityFilter: fewer than max_server_per_host (default 1) members on the host. */
export const serverGroupAntiAffinityFilter: HostFilter = {
  name: 'ServerGroupAntiAffinityFilter',
  rejects(host, req) {
    return req.group?.policy === 'anti-affinity' ? groupRejects(host.host, req.group) : null;
  },
};
