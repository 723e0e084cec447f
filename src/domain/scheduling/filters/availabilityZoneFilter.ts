import type { HostFilter } from '../types.js';

/** A server asked for a zone goes to a host of that zone (Nova's AvailabilityZoneFilter). */
export const availabilityZoneFilter: HostFilter = {
  name: 'AvailabilityZoneFilter',
  rejects(host, req) {
    if (!req.availabilityZone) return null;
    return host.zones?.includes(req.availabilityZone) ? null : `not in availability zone ${req.availabilityZone}`;
  },
};
