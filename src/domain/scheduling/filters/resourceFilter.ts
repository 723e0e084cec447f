import type { HostFilter } from '../types.js';

/** vCPU, RAM and disk capacity (allocation ratios are already applied to the free figures). */
export const resourceFilter: HostFilter = {
  name: 'ResourceFilter',
  rejects(host, req) {
    if (host.freeVcpus < req.vcpus) return `needs ${req.vcpus} vCPUs, ${host.freeVcpus} free`;
    if (host.freeRamMb < req.memoryMb) return `needs ${req.memoryMb} MB RAM, ${host.freeRamMb} free`;
    if (host.freeDiskGb < req.diskGb) return `needs ${req.diskGb} GB disk, ${host.freeDiskGb} free`;
    return null;
  },
};
