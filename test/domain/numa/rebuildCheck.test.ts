import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BadRequest } from '../../../src/domain/errors.js';
import { checkNumaRebuild, NUMA_REBUILD_CONFLICT } from '../../../src/domain/numa/rebuildCheck.js';

const flavor = (extra_specs: Record<string, string>) => ({ vcpus: 4, ram: 4096, extra_specs });
const dedicated = flavor({ 'hw:cpu_policy': 'dedicated' });
const plain = flavor({});
const conflict = (e: unknown) => e instanceof BadRequest && e.message === NUMA_REBUILD_CONFLICT;

// Nova's _validate_numa_rebuild: the same topology passes, any change (introduced, removed, altered) is the 400.
type Case = [string, ReturnType<typeof flavor>, Record<string, string>, Record<string, string>];
const same: Case[] = [
  ['a plain flavor and images without hw_* properties', plain, {}, {}],
  ['a plain flavor and an image of other, non-NUMA properties', plain, {}, { hw_disk_bus: 'virtio' }],
  ['the flavor decides, both images say nothing', dedicated, {}, {}],
  ['the flavor wins over the image\'s cpu policy', dedicated, {}, { hw_cpu_policy: 'shared' }],
];
const changed: Case[] = [
  ['an image introducing a topology', plain, {}, { hw_cpu_policy: 'dedicated' }],
  ['an image removing one', plain, { hw_numa_nodes: '2' }, {}],
  ['an image changing the node count', dedicated, {}, { hw_numa_nodes: '2' }],
];
for (const [name, f, before, after] of same) {
  test(`rebuild check passes: ${name}`, { timeout: 120_000 }, () => assert.doesNotThrow(() => checkNumaRebuild(f, before, after)));
}
for (const [name, f, before, after] of changed) {
  test(`rebuild check refuses: ${name}`, { timeout: 120_000 }, () => assert.throws(() => checkNumaRebuild(f, before, after), conflict));
}
