import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedNumaStates } from '../../src/controller/services/numaStates.js';
import type { HostNumaTopology, HostNumaUsage } from '../../src/domain/numa/hostTopology.js';

const TOPOLOGY: HostNumaTopology = {
  cells: [
    { id: 0, socket: 0, cpus: [0, 1, 2, 3], memoryMb: 8192, hugepages: { 1048576: 4 } },
    { id: 1, socket: 1, cpus: [4, 5, 6, 7], memoryMb: 8192, hugepages: { 1048576: 4 } },
  ],
  cpuDedicatedSet: null,
  cpuSharedSet: null,
};

function columns(usage: HostNumaUsage | null, ratios = { cpu: 1, ram: 1 }) {
  return {
    vcpus: 8, memory_mb: 16384, cpu_allocation_ratio: ratios.cpu, ram_allocation_ratio: ratios.ram,
    numa_topology: JSON.stringify(TOPOLOGY), numa_usage: usage === null ? null : JSON.stringify(usage),
  };
}

const ONE_PINNED: HostNumaUsage = { 0: { pinnedCpus: [0, 1], sharedVcpus: 0, memoryMb: 0, pages: { 1048576: 2 } } };

test('hosts whose stored cells say the same share one state, its capacity worked out once', { timeout: 5_000 }, () => {
  const states = new SharedNumaStates();
  const a = states.ofColumns('compute-a', columns(null));
  const b = states.ofColumns('compute-b', columns(null));
  assert.equal(a, b);
  assert.deepEqual(a.capacity.map((c) => c.freePinnable), [4, 4]);
  assert.deepEqual(a.state.usage, {});
  assert.deepEqual(a.state.topology, TOPOLOGY);
});

test('another usage or other allocation ratios are another state', { timeout: 5_000 }, () => {
  const states = new SharedNumaStates();
  const empty = states.ofColumns('compute-a', columns(null));
  const used = states.ofColumns('compute-b', columns(ONE_PINNED));
  const overcommitted = states.ofColumns('compute-c', columns(null, { cpu: 4, ram: 1.5 }));
  assert.notEqual(used, empty);
  assert.notEqual(overcommitted, empty);
  assert.equal(overcommitted.state.cpuAllocationRatio, 4);
  assert.deepEqual(used.capacity.map((c) => c.freePinnable), [2, 4]);
  assert.deepEqual(used.capacity[0]!.freePages, [[1048576, 2]]);
});

test('a claim leaving the cells as another host\'s stored ones are takes that host\'s state', { timeout: 5_000 }, () => {
  const states = new SharedNumaStates();
  const stored = states.ofColumns('compute-a', columns(ONE_PINNED));
  const before = states.ofColumns('compute-b', columns(null));
  const json = JSON.stringify(ONE_PINNED);
  const claimed = states.afterClaim(columns(null), before.state, json, JSON.parse(json) as HostNumaUsage);
  assert.equal(claimed, stored);
  // A usage nobody has yet: a new state with the claim's usage on the same topology.
  const twice: HostNumaUsage = { 0: { pinnedCpus: [0, 1, 2, 3], sharedVcpus: 0, memoryMb: 0, pages: { 1048576: 4 } } };
  const full = states.afterClaim(columns(ONE_PINNED), stored.state, JSON.stringify(twice), twice);
  assert.equal(full.state.usage, twice);
  assert.equal(full.state.topology, stored.state.topology);
  assert.deepEqual(full.capacity.map((c) => c.freePinnable), [0, 4]);
  assert.deepEqual(full.capacity[0]!.freePages, [[1048576, 0]]);
});
