import { unmetAggregateSpec } from '../aggregateSpecs.js';
import type { HostFilter } from '../types.js';

/** The flavor's `aggregate_instance_extra_specs:` requirements against the host's aggregates' metadata. */
export const aggregateInstanceExtraSpecsFilter: HostFilter = {
  name: 'AggregateInstanceExtraSpecsFilter',
  rejects(host, req) {
    if (!req.aggregateSpecs) return null;
    const key = unmetAggregateSpec(host.aggregateMetadata ?? {}, req.aggregateSpecs);
    return key === null ? null : `aggregate metadata does not satisfy ${key}=${req.aggregateSpecs[key]}`;
  },
};
