import { aggregateInstanceExtraSpecsFilter } from './filters/aggregateInstanceExtraSpecsFilter.js';
import { availabilityZoneFilter } from './filters/availabilityZoneFilter.js';
import { computeFilter } from './filters/computeFilter.js';
import { hostListFilter } from './filters/hostListFilter.js';
import { pciPassthroughFilter } from './filters/pciPassthroughFilter.js';
import { resourceFilter } from './filters/resourceFilter.js';
import { numaTopologyFilter } from './filters/numaTopologyFilter.js';
import { serverGroupAffinityFilter, serverGroupAntiAffinityFilter } from './filters/serverGroupFilters.js';
import { serverGroupSoftAffinityWeigher, serverGroupSoftAntiAffinityWeigher } from './weighers/serverGroupWeighers.js';
import type { HostFilter, HostState, HostWeigher, ResourceRequest } from './types.js';
import { pciWeigher } from './weighers/pciWeigher.js';
import { ramWeigher } from './weighers/ramWeigher.js';

export const DEFAULT_FILTERS: readonly HostFilter[] = [
  hostListFilter, computeFilter, availabilityZoneFilter, aggregateInstanceExtraSpecsFilter, resourceFilter, pciPassthroughFilter, numaTopologyFilter,
  serverGroupAntiAffinityFilter, serverGroupAffinityFilter,
];
export const DEFAULT_WEIGHERS: readonly HostWeigher[] = [
  ramWeigher, pciWeigher, serverGroupSoftAffinityWeigher, serverGroupSoftAntiAffinityWeigher,
];

export interface Selection {
  /** Hosts that passed every filter, best first. */
  ranked: HostState[];
  /** Per filter, how many hosts it turned away and one example reason: what explains "No valid host". */
  rejections: Record<string, { count: number; example: string }>;
}

/** Filters, then weighs: Nova's FilterScheduler decision as one pure function. */
export function selectHosts(
  hosts: readonly HostState[],
  request: ResourceRequest,
  filters: readonly HostFilter[] = DEFAULT_FILTERS,
  weighers: readonly HostWeigher[] = DEFAULT_WEIGHERS,
): Selection {
  const rejections: Selection['rejections'] = {};
  const passed: HostState[] = [];
  for (const host of hosts) {
    let rejected = false;
    for (const filter of filters) {
      const reason = filter.rejects(host, request);
      if (reason !== null) {
        const r = (rejections[filter.name] ??= { count: 0, example: `${host.host}: ${reason}` });
        r.count += 1;
        rejected = true;
        break;
      }
    }
    if (!rejected) passed.push(host);
  }
  if (passed.length <= 1) return { ranked: passed, rejections };

  const scores = new Map<HostState, number>(passed.map((h) => [h, 0]));
  for (const weigher of weighers) {
    const raw = passed.map((h) => weigher.weigh(h, request));
    const min = Math.min(...raw);
    const max = Math.max(...raw);
    const span = max - min;
    passed.forEach((h, i) => {
      const normalised = span === 0 ? 0 : (raw[i]! - min) / span;
      scores.set(h, scores.get(h)! + weigher.multiplier * normalised);
    });
  }
  const ranked = [...passed].sort((a, b) => scores.get(b)! - scores.get(a)!);
  return { ranked, rejections };
}

/** The operator-facing explanation of an empty selection. */
export function explainNoValidHost(selection: Selection, candidates: number): string {
  const parts = Object.entries(selection.rejections).map(([f, r]) => `${f} rejected ${r.count} (e.g. ${r.example})`);
  return candidates === 0 ? 'no host has a free device of the requested kind' : parts.join('; ');
}
