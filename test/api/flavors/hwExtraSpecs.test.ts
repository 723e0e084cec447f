import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAllInOneProcess, type AllInOneProcess } from '../../helpers/allInOneProcess.js';

/**
 * `hw:` extra specs at `openstack flavor set`: from microversion 2.86 Nova
 * validates each one it knows (nova/api/validation/extra_specs/hw.py) and
 * refuses unknown keys of the `hw` namespace; below 2.86 (the client's own
 * default for flavors is 2.61) it stores any value.
 */
describe('flavor set validates hw: extra specs from 2.86, as Nova', { timeout: 240_000 }, () => {
  let aio: AllInOneProcess;
  const at286 = ['--os-compute-api-version', '2.86'];
  before(async () => {
    aio = await startAllInOneProcess();
    const created = await aio.openstack(['flavor', 'create', '--vcpus', '4', '--ram', '4096', '--disk', '1', 'nfv.check']);
    assert.equal(created.code, 0, created.stderr);
  });
  after(async () => { await aio?.stop(); });

  const properties = async () => (await aio.openstackJson(['flavor', 'show', 'nfv.check'])).properties as Record<string, string>;

  test('an invalid value is a 400 with Nova\'s message, and nothing is stored', { timeout: 300_000 }, async () => {
    const cases: Array<[string, string]> = [
      ['hw:cpu_policy=bogus', "Validation failed; 'bogus' is not one of: dedicated, shared, mixed."],
      ['hw:pci_numa_affinity_policy=strict', "Validation failed; 'strict' is not one of: required, preferred, legacy, socket."],
      ['hw:emulator_threads_policy=float', "Validation failed; 'float' is not one of: isolate, share."],
      ['hw:mem_page_size=huge', String.raw`Validation failed; 'huge' is not of the format '(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)'.`],
      ['hw:numa_nodes=0', "Validation failed; '0' is less than the min value of '1'."],
      ['hw:numa_nodes=two', "Validation failed; 'two' is not a valid integer value."],
      ['hw:cpu_dedicated_mask=x1', String.raw`Validation failed; 'x1' is not of the format '\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*'.`],
      ['hw:locked_memory=maybe', "Validation failed; 'maybe' is not a valid boolean-like value."],
      ['hw:cpu_pinning=dedicated', "Validation failed; extra spec 'hw:cpu_pinning' does not appear to be a valid extra spec."],
    ];
    for (const [property, message] of cases) {
      const r = await aio.openstack([...at286, 'flavor', 'set', '--property', property, 'nfv.check']);
      assert.equal(r.code, 1, `${property}: ${r.stdout}`);
      assert.match(r.stderr, /BadRequestException: 400/, property);
      assert.ok(r.stderr.includes(message), `${property}: ${r.stderr}`);
    }
    assert.deepEqual(await properties(), {});
  });

  test('valid values are stored at 2.86', { timeout: 300_000 }, async () => {
    const r = await aio.openstack([...at286, 'flavor', 'set',
      '--property', 'hw:cpu_policy=mixed', '--property', 'hw:cpu_dedicated_mask=^0',
      '--property', 'hw:cpu_thread_policy=prefer', '--property', 'hw:emulator_threads_policy=share',
      '--property', 'hw:mem_page_size=1GB', '--property', 'hw:numa_nodes=2',
      '--property', 'hw:numa_cpus.0=0-1', '--property', 'hw:numa_cpus.1=2-3',
      '--property', 'hw:numa_mem.0=2048', '--property', 'hw:numa_mem.1=2048',
      '--property', 'hw:pci_numa_affinity_policy=socket', '--property', 'hw:locked_memory=True',
      // Other namespaces are not the hw validators' business.
      '--property', 'aggregate_instance_extra_specs:ssd=true', 'nfv.check']);
    assert.equal(r.code, 0, r.stderr);
    const stored = await properties();
    assert.equal(stored['hw:cpu_policy'], 'mixed');
    assert.equal(stored['hw:mem_page_size'], '1GB');
    assert.equal(stored['hw:numa_cpus.1'], '2-3');
    assert.equal(stored['hw:pci_numa_affinity_policy'], 'socket');
    assert.equal(stored['aggregate_instance_extra_specs:ssd'], 'true');
  });

  test('below 2.86 (the client\'s default) any value is stored, as Nova does', { timeout: 300_000 }, async () => {
    const r = await aio.openstack(['flavor', 'set', '--property', 'hw:cpu_policy=bogus', '--property', 'hw:not_a_key=1', 'nfv.check']);
    assert.equal(r.code, 0, r.stderr);
    const stored = await properties();
    assert.equal(stored['hw:cpu_policy'], 'bogus');
    assert.equal(stored['hw:not_a_key'], '1');
  });

  test('PUT of one key is validated too, before the body is compared with the URI', { timeout: 300_000 }, async () => {
    const headers = { 'openstack-api-version': 'compute 2.86' };
    const flavor = (await aio.openstackJson(['flavor', 'show', 'nfv.check'])).id as string;
    const bad = await aio.api('PUT', `/compute/v2.1/flavors/${flavor}/os-extra_specs/hw:cpu_policy`, { 'hw:cpu_policy': 'pinned' }, { headers });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, "Validation failed; 'pinned' is not one of: dedicated, shared, mixed.");
    const good = await aio.api('PUT', `/compute/v2.1/flavors/${flavor}/os-extra_specs/hw:cpu_policy`, { 'hw:cpu_policy': 'dedicated' }, { headers });
    assert.equal(good.status, 200);
    assert.deepEqual(good.body, { 'hw:cpu_policy': 'dedicated' });
  });
});
