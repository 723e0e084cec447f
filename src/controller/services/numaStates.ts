import { cellCapacities, type CellCapacity } from '../../domain/numa/cellCapacity.js';
import type { HostNumaUsage } from '../../domain/numa/hostTopology.js';
import type { HostNumaState } from '../../domain/scheduling/types.js';
import type { IndexedHostRow } from '../../storage/repositories/candidates.js';
import { numaStateOf } from '../../storage/repositories/numa.js';

/** A host's cells as the candidate index judges them: the state and the free capacity of each cell. */
export interface SharedNumaState {
  state: HostNumaState;
  capacity: CellCapacity[];
  /** Per guest shape (numaTopologyFilter.ts shapeOf): whether such a guest fits these cells, once known. */
  fits: Map<string, boolean>;
  /** The numa_usage text it was made from ('' for none): hosts keep this one copy instead of one each. */
  usageJson: string;
}

type NumaColumns = IndexedHostRow['numaColumns'];

interface ByRatios {
  cpuAllocationRatio: number;
  ramAllocationRatio: number;
  shared: SharedNumaState;
}

/** Kinds of cells in use kept at most; past this the table starts again rather than grow. */
const KEPT = 4096;

/**
 * One state object per distinct (topology, usage, allocation ratios), shared
 * by every host whose stored columns say the same. A fleet is a few kinds of
 * hardware filled by a few flavors, so most hosts' cells look like many
 * others': the fit's verdict (numaTopologyFilter, cached per state object),
 * the cells' free capacity and the parse are then worked out once for all of
 * them instead of once per host and change, and far fewer objects live.
 * Safe because a state is never changed: a claim or a read makes a new one.
 */
export class SharedNumaStates {
  /** topology text (or a single-cell key) → usage text → entries per allocation ratios. */
  private readonly table = new Map<string, Map<string, ByRatios[]>>();
  private size = 0;

  /** The shared state of stored columns. */
  ofColumns(host: string, columns: NumaColumns): SharedNumaState {
    return this.lookup(columns, columns.numa_usage ?? '', () => numaStateOf({ host, ...columns }));
  }

  /**
   * The shared state after a claim wrote `usage` (as `usageJson`) on cells
   * whose state was `before`: the topology is kept, the usage is the claim's.
   */
  afterClaim(columns: NumaColumns, before: HostNumaState, usageJson: string, usage: HostNumaUsage): SharedNumaState {
    return this.lookup(columns, usageJson, () => ({ ...before, usage }));
  }

  private lookup(columns: NumaColumns, usageKey: string, make: () => HostNumaState): SharedNumaState {
    const topologyKey = columns.numa_topology || `single-cell:${columns.vcpus}:${columns.memory_mb}`;
    const { cpu_allocation_ratio: cpu, ram_allocation_ratio: ram } = columns;
    const found = this.table.get(topologyKey)?.get(usageKey)?.find((e) => e.cpuAllocationRatio === cpu && e.ramAllocationRatio === ram);
    if (found) return found.shared;
    const state = make();
    const shared = { state, capacity: cellCapacities(state.topology, state.usage), fits: new Map<string, boolean>(), usageJson: usageKey };
    if (this.size >= KEPT) {
      this.table.clear();
      this.size = 0;
    }
    let byUsage = this.table.get(topologyKey);
    if (!byUsage) this.table.set(topologyKey, (byUsage = new Map()));
    let entries = byUsage.get(usageKey);
    if (!entries) byUsage.set(usageKey, (entries = []));
    entries.push({ cpuAllocationRatio: cpu, ramAllocationRatio: ram, shared });
    this.size += 1;
    return shared;
  }
}
