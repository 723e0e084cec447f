import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cellCapacities, mayHold } from '../../../src/domain/numa/cellCapacity.js';
import { fitGuestToHost } from '../../../src/domain/numa/fit.js';
import { guestNumaTopology } from '../../../src/domain/numa/guestTopology.js';
import type { HostNumaTopology, HostNumaUsage } from '../../../src/domain/numa/hostTopology.js';

const GIB = '1048576';
const cell = (id: number) => ({ id, socket: id, cpus: Array.from({ length: 4 }, (_, i) => 4 * id + i), memoryMb: 16384, hugepages: { [GIB]: 4 } });
const host: HostNumaTopology = { cells: [cell(0), cell(1)], cpuDedicatedSet: null, cpuSharedSet: null };
const guest = (vcpus: number, ram: number, specs: Record<string, string>) => guestNumaTopology({ vcpus, ram, extra_specs: specs }, {})!;
const opts = { cpuAllocationRatio: 4, ramAllocationRatio: 1 };

test('mayHold turns away only hosts the fit turns away', { timeout: 120_000 }, () => {
  const pinned = guest(2, 2048, { 'hw:cpu_policy': 'dedicated', 'hw:mem_page_size': '1GB' });
  const usages: HostNumaUsage[] = [
    {},
    { 0: { pinnedCpus: [0, 1, 2], sharedVcpus: 0, memoryMb: 0, pages: {} }, 1: { pinnedCpus: [4, 5, 6], sharedVcpus: 0, memoryMb: 0, pages: {} } },
    { 0: { pinnedCpus: [], sharedVcpus: 0, memoryMb: 0, pages: { [GIB]: 3 } }, 1: { pinnedCpus: [4, 5], sharedVcpus: 0, memoryMb: 0, pages: { [GIB]: 1 } } },
    { 0: { pinnedCpus: [0, 1], sharedVcpus: 0, memoryMb: 0, pages: { [GIB]: 4 } }, 1: { pinnedCpus: [4, 5, 6, 7], sharedVcpus: 0, memoryMb: 0, pages: {} } },
  ];
  const verdicts = usages.map((u) => [mayHold(cellCapacities(host, u), pinned), fitGuestToHost(host, u, pinned, opts).placement !== null]);
  assert.deepEqual(verdicts, [[true, true], [false, false], [true, true], [false, false]]);
  // A lower bound: whatever it lets through, the fit still judges.
  for (const [may, fits] of verdicts) assert.ok(may || !fits);
});

test('mayHold lets every host through for a guest that pins nothing in small pages', { timeout: 120_000 }, () => {
  const full: HostNumaUsage = { 0: { pinnedCpus: [0, 1, 2, 3], sharedVcpus: 0, memoryMb: 0, pages: { [GIB]: 4 } }, 1: { pinnedCpus: [4, 5, 6, 7], sharedVcpus: 0, memoryMb: 0, pages: { [GIB]: 4 } } };
  assert.equal(mayHold(cellCapacities(host, full), guest(2, 2048, { 'hw:numa_nodes': '1' })), true);
  assert.equal(mayHold(cellCapacities(host, full), guest(2, 2048, { 'hw:mem_page_size': 'large' })), false);
});
