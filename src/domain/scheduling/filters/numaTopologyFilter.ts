import { fitGuestToHost } from '../../numa/fit.js';
import { pciNumaRequests } from '../../numa/pciRequests.js';
import type { HostFilter, HostNumaState, ResourceRequest } from '../types.js';

/**
 * The fit's verdict per host state and guest shape. A state is never changed
 * once read (a new read or a claim makes a new one), and the verdict depends
 * only on the state, the guest topology and the PCI requests' kinds, counts
 * and policies: the candidate index's walk and the pipeline's filters judge
 * the same state for the same request one after the other, and the index
 * keeps its states between decisions, so guests of one flavor run the fit on
 * a host once per change of that host.
 */
const verdicts = new WeakMap<HostNumaState, Map<string, string | null>>();
const shapes = new WeakMap<ResourceRequest, string>();

/**
 * The key of the request's guest shape, worked out once per request object:
 * resourceRequestFor asks for it as it builds the request, so a decision
 * only looks it up.
 */
export function shapeOf(req: ResourceRequest): string {
  let shape = shapes.get(req);
  if (shape === undefined) {
    const policies = req.numa!.pciPolicies;
    shape = JSON.stringify([req.numa!.guest, req.pciRequests.map((r) => [r.spec, r.count, policies[r.id] ?? null])]);
    shapes.set(req, shape);
  }
  return shape;
}

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
    return numaVerdict(host.numa, req);
  },
};

/** Why the host's cells cannot hold the request's guest, or null when they can (the filter's verdict on one NUMA state). */
export function numaVerdict(numa: HostNumaState, req: ResourceRequest): string | null {
  if (!req.numa) return null;
  let byShape = verdicts.get(numa);
  const shape = shapeOf(req);
  const known = byShape?.get(shape);
  if (known !== undefined) return known;
  const pci = numa.devices ? pciNumaRequests(req.pciRequests, req.numa, numa.devices) : undefined;
  const fit = fitGuestToHost(numa.topology, numa.usage, req.numa.guest, {
    cpuAllocationRatio: numa.cpuAllocationRatio, ramAllocationRatio: numa.ramAllocationRatio, pci,
  });
  const verdict = fit.placement ? null : fit.reason;
  if (!byShape) verdicts.set(numa, (byShape = new Map()));
  byShape.set(shape, verdict);
  return verdict;
}
