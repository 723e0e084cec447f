/**
 * Nova's `[compute] cpu_dedicated_set` / `cpu_shared_set` given to a compute
 * agent (--cpu-dedicated-set / --cpu-shared-set, or its config file): CPU
 * lists that replace what the host's discovery or inventory entry says,
 * checked against the host's own CPUs.
 */
import { CpuSpecError, formatCpuSpec, parseCpuSpec } from './cpuSet.js';
import type { HostNumaTopology } from './hostTopology.js';

export class CpuSetOptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CpuSetOptionError';
  }
}

export interface CpuSetOptions {
  /** A CPU list ("2-15,18-31"), as Nova's option takes it. */
  dedicated?: string;
  shared?: string;
}

/** How the caller names each option in its messages (`--cpu-dedicated-set`, `cpu_dedicated_set`…). */
export interface CpuSetNames {
  dedicated: string;
  shared: string;
}

function parse(name: string, spec: string, hostCpus: Set<number>): number[] {
  let cpus: number[];
  try {
    cpus = parseCpuSpec(spec);
  } catch (e) {
    throw new CpuSetOptionError(`${name} ${spec}: ${(e as CpuSpecError).message}`);
  }
  // Nova: "No CPUs available after parsing '[compute] cpu_dedicated_set' config".
  if (cpus.length === 0) throw new CpuSetOptionError(`${name} ${spec}: no CPUs available after parsing it`);
  const stray = cpus.filter((c) => !hostCpus.has(c));
  if (stray.length > 0) {
    throw new CpuSetOptionError(`${name} ${spec}: CPU${stray.length > 1 ? 's' : ''} ${formatCpuSpec(stray)} ${stray.length > 1 ? 'are' : 'is'} not CPUs of this host (it has ${formatCpuSpec([...hostCpus].sort((a, b) => a - b))})`);
  }
  return cpus;
}

/** The topology with the given sets in place of its own; a set not given keeps the topology's. */
export function withCpuSets(topology: HostNumaTopology, given: CpuSetOptions, names: CpuSetNames): HostNumaTopology {
  if (given.dedicated === undefined && given.shared === undefined) return topology;
  const hostCpus = new Set(topology.cells.flatMap((c) => c.cpus));
  const dedicated = given.dedicated !== undefined ? parse(names.dedicated, given.dedicated, hostCpus) : topology.cpuDedicatedSet;
  const shared = given.shared !== undefined ? parse(names.shared, given.shared, hostCpus) : topology.cpuSharedSet;
  const overlap = (dedicated ?? []).filter((c) => shared?.includes(c));
  if (overlap.length > 0) {
    throw new CpuSetOptionError(`${names.dedicated} and ${names.shared} must not overlap: both have ${formatCpuSpec(overlap)}`);
  }
  return { ...topology, cpuDedicatedSet: dedicated, cpuSharedSet: shared };
}
