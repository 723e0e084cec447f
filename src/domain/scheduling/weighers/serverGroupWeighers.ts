import type { HostWeigher } from '../types.js';

/**
 * Nova's soft affinity weighers: the group's members on the host, positive
 * for soft-affinity and negative for soft-anti-affinity, times
 * soft_[anti_]affinity_weight_multiplier (1.0). 0 for every host otherwise,
 * which the normalisation leaves without effect.
 */
export const serverGroupSoftAffinityWeigher: HostWeigher = {
  name: 'ServerGroupSoftAffinityWeigher',
  multiplier: 1.0,
  weigh: (host, req) => (req.group?.policy === 'soft-affinity' ? req.group.membersOnHost[host.host] ?? 0 : 0),
};

export const serverGroupSoftAntiAffinityWeigher: HostWeigher = {
  name: 'ServerGroupSoftAntiAffinityWeigher',
  multiplier: 1.0,
  weigh: (host, req) => (req.group?.policy === 'soft-anti-affinity' ? -(req.group.membersOnHost[host.host] ?? 0) : 0),
};
