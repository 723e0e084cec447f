import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCpuSpec, parseCpuSpec } from '../../../src/domain/numa/cpuSet.js';
import { guestNumaTopology, pciNumaPolicyOf, effectivePciNumaPolicy } from '../../../src/domain/numa/guestTopology.js';
import { applyCellClaims, type HostNumaTopology } from '../../../src/domain/numa/hostTopology.js';
import { cellClaimsOf, fitGuestToHost, type PciNumaRequest } from '../../../src/domain/numa/fit.js';

const flavor = (extra: Record<string, string>, vcpus = 4, ram = 4096) => ({ vcpus, ram, extra_specs: extra });

describe('CPU lists (Nova parse_cpu_spec / format_cpu_spec)', { timeout: 5_000 }, () => {
  for (const [spec, cpus] of [['0-3', [0, 1, 2, 3]], ['1-4,^3,6', [1, 2, 4, 6]], ['0-7,^2-5', [0, 1, 6, 7]], ['', []], ['5,1', [1, 5]]] as const) {
    test(`"${spec}"`, { timeout: 120_000 }, () => assert.deepEqual(parseCpuSpec(spec), cpus));
  }
  test('formats ranges', { timeout: 120_000 }, () => assert.equal(formatCpuSpec([0, 1, 2, 5, 7, 8]), '0-2,5,7-8'));
  test('a reversed range is invalid', { timeout: 120_000 }, () => assert.throws(() => parseCpuSpec('4-2'), /Invalid range expression '4-2'/));
});

describe('guest topology from flavor and image: Nova\'s messages', { timeout: 5_000 }, () => {
  const cases: Array<[string, Record<string, string>, Record<string, string>, RegExp]> = [
    ['bad cpu policy', { 'hw:cpu_policy': 'pinned' }, {}, /CPU policy requested from 'flavor extra specs' is invalid, given: 'pinned', available: '\('dedicated', 'shared', 'mixed'\)'\.$/],
    ['image overrides shared', { 'hw:cpu_policy': 'shared' }, { hw_cpu_policy: 'dedicated' }, /Image property 'hw_cpu_policy' is not permitted to override CPU pinning policy set against the flavor$/],
    ['thread policy without pinning', { 'hw:cpu_thread_policy': 'isolate' }, {}, /Cannot set cpu thread pinning policy in a non dedicated cpu pinning policy$/],
    ['isolated emulator without pinning', { 'hw:emulator_threads_policy': 'isolate' }, {}, /An isolated CPU emulator threads option requires a dedicated CPU policy option\.$/],
    ['mask without mixed', { 'hw:cpu_policy': 'dedicated', 'hw:cpu_dedicated_mask': '0-1' }, {}, /Cannot specify 'hw:cpu_dedicated_mask' without the 'mixed' policy\.$/],
    ['mixed without mask', { 'hw:cpu_policy': 'mixed' }, {}, /Dedicated CPU set can be specified from either/],
    ['mixed mask of all', { 'hw:cpu_policy': 'mixed', 'hw:cpu_dedicated_mask': '0-3' }, {}, /Mixed instance must have at least 1 pinned vCPU and 1 unpinned vCPU\. See 'hw:cpu_dedicated_mask'\.$/],
    ['zero nodes', { 'hw:numa_nodes': '0' }, {}, /The property 'numa_nodes' cannot be '0'\. It must be a number greater than 0$/],
    ['uneven nodes', { 'hw:numa_nodes': '3' }, {}, /Instance CPUs and\/or memory cannot be evenly distributed/],
    ['nodes in both', { 'hw:numa_nodes': '2' }, { hw_numa_nodes: '2' }, /Image property 'hw_numa_nodes' is not permitted to override NUMA configuration set against the flavor$/],
    ['bad page size', { 'hw:mem_page_size': 'huge' }, {}, /Invalid memory page size 'huge'$/],
    ['image page size alone', {}, { hw_mem_page_size: '2MB' }, /Page size 2MB forbidden against '<empty>'$/],
    ['image page size against small', { 'hw:mem_page_size': 'small' }, { hw_mem_page_size: '2MB' }, /Page size 2MB forbidden against 'small'$/],
    ['cpu lists incomplete', { 'hw:numa_nodes': '2', 'hw:numa_cpus.0': '0-1' }, {}, /CPU and memory allocation must be provided for all NUMA nodes$/],
    ['memory sum', { 'hw:numa_nodes': '2', 'hw:numa_cpus.0': '0-1', 'hw:numa_cpus.1': '2-3', 'hw:numa_mem.0': '1024', 'hw:numa_mem.1': '1024' }, {}, /2048 MB of memory assigned, but expected 4096 MB$/],
  ];
  for (const [name, extra, image, message] of cases) {
    test(name, { timeout: 120_000 }, () => assert.throws(() => guestNumaTopology(flavor(extra), image), message));
  }
  test('a plain flavor has no topology', { timeout: 120_000 }, () => assert.equal(guestNumaTopology(flavor({})), null));
  test('dedicated pins every vCPU on one node; 1GB is 1048576 KiB', { timeout: 120_000 }, () => {
    const t = guestNumaTopology(flavor({ 'hw:cpu_policy': 'dedicated', 'hw:mem_page_size': '1GB' }))!;
    assert.deepEqual(t.cells, [{ id: 0, cpus: [], pinnedCpus: [0, 1, 2, 3], memoryMb: 4096 }]);
    assert.equal(t.pageSize, 1048576);
  });
  test('large in the flavor lets the image choose the size', { timeout: 120_000 }, () => {
    assert.equal(guestNumaTopology(flavor({ 'hw:mem_page_size': 'large' }), { hw_mem_page_size: '2MB' })!.pageSize, 2048);
  });
  test('PCI policy: the image may repeat the flavor, not change it (403)', { timeout: 120_000 }, () => {
    assert.equal(pciNumaPolicyOf(flavor({ 'hw:pci_numa_affinity_policy': 'required' }), { hw_pci_numa_affinity_policy: 'required' }), 'required');
    assert.throws(() => pciNumaPolicyOf(flavor({ 'hw:pci_numa_affinity_policy': 'required' }), { hw_pci_numa_affinity_policy: 'preferred' }),
      (e: Error & { kind?: string }) => e.kind === 'forbidden');
  });
  test('a port\'s policy beats the flavor; an alias\'s gives way to it; legacy by default', { timeout: 120_000 }, () => {
    assert.equal(effectivePciNumaPolicy({ kind: 'port', portPolicy: 'required' }, 'preferred'), 'required');
    assert.equal(effectivePciNumaPolicy({ kind: 'port', portPolicy: null }, 'preferred'), 'preferred');
    assert.equal(effectivePciNumaPolicy({ kind: 'alias', aliasPolicy: 'required' }, 'preferred'), 'preferred');
    assert.equal(effectivePciNumaPolicy({ kind: 'alias', aliasPolicy: null }, null), 'legacy');
  });
});

describe('fitting a guest on host cells', { timeout: 5_000 }, () => {
  const host: HostNumaTopology = {
    cells: [
      { id: 0, socket: 0, cpus: [0, 1, 2, 3], memoryMb: 8192, hugepages: {} },
      { id: 1, socket: 0, cpus: [4, 5, 6, 7], memoryMb: 8192, hugepages: { 1048576: 4 } },
    ],
    cpuDedicatedSet: null, cpuSharedSet: null,
  };
  const opts = { cpuAllocationRatio: 1, ramAllocationRatio: 1 };
  const pinned = guestNumaTopology(flavor({ 'hw:cpu_policy': 'dedicated', 'hw:mem_page_size': '1GB' }, 2, 2048))!;
  const nic = (policy: PciNumaRequest['policy'], node: number | null): PciNumaRequest => ({ id: 'p', count: 1, policy, freeByNode: new Map([[node, 1]]) });

  test('pins from the cell with the pages', { timeout: 120_000 }, () => {
    const fit = fitGuestToHost(host, {}, pinned, opts);
    assert.ok(fit.placement);
    assert.deepEqual(fit.placement.cells[0]!.pinning, [[0, 4], [1, 5]]);
    assert.equal(fit.placement.cells[0]!.pageKiB, 1048576);
  });
  test('claims add up and two claims never share a CPU or page', { timeout: 120_000 }, () => {
    const first = fitGuestToHost(host, {}, pinned, opts).placement!;
    const usage = applyCellClaims({}, cellClaimsOf(first), 1);
    const second = fitGuestToHost(host, usage, pinned, opts).placement!;
    assert.deepEqual(second.cells[0]!.pinning, [[0, 6], [1, 7]]);
    const full = applyCellClaims(usage, cellClaimsOf(second), 1);
    assert.equal(fitGuestToHost(host, full, pinned, opts).placement, null);
    assert.deepEqual(applyCellClaims(full, cellClaimsOf(first), -1)['1']!.pinnedCpus, [6, 7]);
  });
  const table: Array<[PciNumaRequest['policy'], number | null, boolean]> = [
    ['required', 1, true], ['required', 0, false], ['legacy', 0, false], ['legacy', null, true],
    ['preferred', 0, true], ['socket', 0, true],
  ];
  for (const [policy, node, fits] of table) {
    test(`PCI policy ${policy} with the device on node ${node}: ${fits ? 'fits' : 'does not fit'}`, { timeout: 120_000 }, () => {
      assert.equal(fitGuestToHost(host, {}, pinned, { ...opts, pci: [nic(policy, node)] }).placement !== null, fits);
    });
  }
});
