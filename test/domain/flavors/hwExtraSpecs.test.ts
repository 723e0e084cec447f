import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BadRequest } from '../../../src/domain/errors.js';
import { validateHwExtraSpec } from '../../../src/domain/flavors/hwExtraSpecs.js';

const refused = (name: string, value: string, message: string) =>
  assert.throws(() => validateHwExtraSpec(name, value), (e: unknown) => e instanceof BadRequest && e.message === `Validation failed; ${message}`);

test('hw: validators take what Nova takes', { timeout: 120_000 }, () => {
  for (const [name, value] of [
    ['hw:cpu_policy', 'dedicated'], ['hw:cpu_thread_policy', 'isolate'], ['hw:emulator_threads_policy', 'isolate'],
    ['hw:mem_page_size', 'large'], ['hw:mem_page_size', '2048'], ['hw:mem_page_size', '2MB'], ['hw:mem_page_size', '1GiB'],
    ['hw:numa_nodes', ' +2 '], ['hw:numa_nodes', '1_0'], ['hw:numa_cpus.0', '0-3,^2'], ['hw:numa_mem.12', '1024'],
    ['hw:cpu_realtime', 'YES'], ['hw:cpu_realtime_mask', '^0-1'], ['hw:cpu_dedicated_mask', '^0'],
    ['hw:pci_numa_affinity_policy', 'legacy'], ['hw:redirected_usb_ports', '15'], ['hw:serial_port_count', '0'],
    ['hw_rng:allowed', 'anything'], ['quota:cpu_shares', 'x'], ['no_namespace', 'x'],
  ] as const) assert.doesNotThrow(() => validateHwExtraSpec(name, value), `${name}=${value}`);
});

test('hw: validators refuse with Nova\'s messages', { timeout: 120_000 }, () => {
  refused('hw:cpu_thread_policy', 'never', "'never' is not one of: prefer, isolate, require.");
  refused('hw:redirected_usb_ports', '16', "'16' is greater than the max value of '15'.");
  refused('hw:numa_mem.0', '0', "'0' is less than the min value of '1'.");
  refused('hw:numa_mem.0', '1.5', "'1.5' is not a valid integer value.");
  refused('hw:mem_page_size', '2 MB', String.raw`'2 MB' is not of the format '(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)'.`);
  refused('hw:cpu_realtime', 'sometimes', "'sometimes' is not a valid boolean-like value.");
  refused('hw:numa_cpus.x', '0', "extra spec 'hw:numa_cpus.x' does not appear to be a valid extra spec.");
  refused('hw:', '0', "extra spec 'hw:' does not appear to be a valid extra spec.");
});
