import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { applyDeviceSpecs, DeviceSpecError, parseDeviceSpecs } from '../../../src/domain/pci/deviceSpec.js';
import { fn } from './fixtures.js';

const pf = fn('0000:06:00.0', { devType: 'type-PF', productId: '101d', devname: 'enp6s0f0' });
const vdpaVf = fn('0000:06:00.2', { devType: 'vdpa', parentAddr: '0000:06:00.0', vdpaName: 'vdpa0', vdpaChardev: '/dev/vhost-vdpa-0' });
const plainVf = fn('0000:06:00.3', { parentAddr: '0000:06:00.0' });
const otherNic = fn('0001:81:1f.7', { vendorId: '8086', productId: '154c' });

function matching(spec: unknown, fns = [pf, vdpaVf, plainVf, otherNic]): string[] {
  const [s] = parseDeviceSpecs([spec]);
  return fns.filter((f) => s!.matches(f)).map((f) => f.address);
}

describe('device_spec address globs (Nova PciAddressGlobSpec)', () => {
  test('a full address matches that function only', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ address: '0000:06:00.2' }), ['0000:06:00.2']);
  });
  test('any field may be *', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ address: '*:06:00.*' }), ['0000:06:00.0', '0000:06:00.2', '0000:06:00.3']);
    assert.deepEqual(matching({ address: '0000:06:00.*' }), ['0000:06:00.0', '0000:06:00.2', '0000:06:00.3']);
    assert.deepEqual(matching({ address: '*:*:*.7' }), ['0001:81:1f.7']);
  });
  test('partial forms leave the missing fields open', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ address: ':06:00.' }), ['0000:06:00.0', '0000:06:00.2', '0000:06:00.3']);
    assert.deepEqual(matching({ address: '06:00.*' }), ['0000:06:00.0', '0000:06:00.2', '0000:06:00.3']);
    assert.deepEqual(matching({ address: '*:06:00.3' }), ['0000:06:00.3']);
    assert.deepEqual(matching({ address: '81:1f.7' }), ['0001:81:1f.7']);
  });
  test('fields are hex compared numerically, in any case and width', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ address: '1:81:1F.7' }), ['0001:81:1f.7']);
    assert.deepEqual(matching({ address: '0:6:0.3' }), ['0000:06:00.3']);
  });
  test('a single PF address also offers its VFs, as in Nova', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ address: '0000:06:00.0' }), ['0000:06:00.0', '0000:06:00.2', '0000:06:00.3']);
    // ...but vendor/product still apply to each function
    assert.deepEqual(matching({ address: '0000:06:00.0', vendor_id: '15b3', product_id: '101e' }), ['0000:06:00.2', '0000:06:00.3']);
  });
});

describe('device_spec address regexes (Nova PciAddressRegexSpec)', () => {
  test('each given field must match in full; missing fields match anything', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ address: { bus: '06', function: '[2-3]' } }), ['0000:06:00.2', '0000:06:00.3']);
    assert.deepEqual(matching({ address: { domain: '0001', bus: '8.', slot: '1f', function: '7' } }), ['0001:81:1f.7']);
  });
  test('a regex that matches only a prefix does not match', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ address: { bus: '0' } }), []);
  });
});

describe('device_spec vendor, product and devname', () => {
  test('vendor and product match case-insensitively', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ vendor_id: '15B3', product_id: '101E' }), ['0000:06:00.2', '0000:06:00.3']);
    assert.deepEqual(matching({ vendor_id: '8086' }), ['0001:81:1f.7']);
    assert.deepEqual(matching({ vendor_id: '15b3', product_id: '*' }), ['0000:06:00.0', '0000:06:00.2', '0000:06:00.3']);
  });
  test('a vdpa VF is matched by the VF address or the VF IDs: its devType does not matter', { timeout: 120_000 }, () => {
    assert.ok(parseDeviceSpecs([{ address: '0000:06:00.2' }])[0]!.matches(vdpaVf));
    assert.ok(parseDeviceSpecs([{ vendor_id: '15b3', product_id: '101e' }])[0]!.matches(vdpaVf));
  });
  test('devname matches the function with that interface name', { timeout: 120_000 }, () => {
    assert.deepEqual(matching({ devname: 'enp6s0f0' }), ['0000:06:00.0']);
  });
  test('an empty spec matches every function', { timeout: 120_000 }, () => {
    assert.equal(matching({}).length, 4);
  });
});

describe('device_spec tags and tracking', () => {
  test('other keys become string tags; physical_network sets the device physnet', { timeout: 120_000 }, () => {
    const [s] = parseDeviceSpecs([{ address: '0000:06:00.*', physical_network: 'physnet0', trusted: true, remote_managed: 'False', rack: 7 }]);
    assert.equal(s!.physicalNetwork, 'physnet0');
    assert.deepEqual(s!.tags, { physical_network: 'physnet0', trusted: 'true', remote_managed: 'false', rack: '7' });
  });
  test("entries may be JSON strings, as in Nova's configuration, and a string may hold a list", { timeout: 120_000 }, () => {
    const specs = parseDeviceSpecs(['{"vendor_id": "8086"}', '[{"address": "0000:06:00.2"}, {"devname": "enp6s0f0"}]']);
    assert.deepEqual(specs.map((s) => s.index), [0, 1, 1]);
    assert.ok(specs[1]!.matches(vdpaVf));
  });
  test('the first matching spec wins and unmatched functions are not tracked', { timeout: 120_000 }, () => {
    const specs = parseDeviceSpecs([
      { address: '0000:06:00.2', physical_network: 'physnet4' },
      { vendor_id: '15b3', physical_network: 'physnet0', trusted: 'yes' },
    ]);
    const tracked = applyDeviceSpecs(specs, [pf, vdpaVf, plainVf, otherNic]);
    assert.deepEqual(tracked.map((d) => [d.address, d.physicalNetwork]), [
      ['0000:06:00.0', 'physnet0'],
      ['0000:06:00.2', 'physnet4'],
      ['0000:06:00.3', 'physnet0'],
    ]);
    assert.deepEqual(tracked[0]!.tags, { physical_network: 'physnet0', trusted: 'true' });
    assert.equal(tracked[1]!.vdpaChardev, '/dev/vhost-vdpa-0');
  });
  test('a spec without physical_network tracks devices with none', { timeout: 120_000 }, () => {
    const tracked = applyDeviceSpecs(parseDeviceSpecs([{ vendor_id: '8086' }]), [otherNic]);
    assert.equal(tracked[0]!.physicalNetwork, null);
  });
});

describe('malformed device_spec entries stop the agent, naming the entry', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['bad hex in an address', { address: '0000:0g:00.1' }, /bus "0g" is not a hex number/],
    ['domain out of range', { address: '10000:06:00.1' }, /domain "10000" is greater than the maximum ffff/],
    ['bus out of range', { address: '0000:100:00.1' }, /bus "100" is greater than the maximum ff/],
    ['slot out of range', { address: '0000:06:20.1' }, /slot "20" is greater than the maximum 1f/],
    ['function out of range', { address: '0000:06:00.8' }, /function "8" is greater than the maximum 7/],
    ['too many address fields', { address: '0:0000:06:00.1' }, /more than domain:bus:slot.function/],
    ['bad regex', { address: { bus: '(06' } }, /bus "\(06" is not a valid regular expression/],
    ['unknown key in an address object', { address: { bux: '06' } }, /unknown address key "bux"/],
    ['non-string regex', { address: { bus: 6 } }, /bus must be a regular expression string/],
    ['unknown address form', { address: 42 }, /unknown address form 42/],
    ['address list', { address: ['0000:06:00.1'] }, /unknown address form/],
    ['address and devname together', { address: '0000:06:00.1', devname: 'eth0' }, /"address" and "devname" cannot both be given/],
    ['vendor_id not 4 hex digits', { vendor_id: '15b' }, /"vendor_id" must be 4 hex digits or "\*", got "15b"/],
    ['product_id not hex', { product_id: 'zzzz' }, /"product_id" must be 4 hex digits/],
    ['vendor_id as a number', { vendor_id: 5555 }, /"vendor_id" must be 4 hex digits or "\*", got 5555/],
    ['empty devname', { devname: '' }, /"devname" must be a non-empty string/],
    ['non-string physical_network', { physical_network: 1 }, /"physical_network" must be a string/],
    ['non-boolean trusted', { trusted: 'maybe' }, /"trusted" must be a boolean/],
    ['object-valued tag', { rack: { row: 1 } }, /tag "rack" must be a string, number or boolean/],
    ['entry not an object', 'true', /an entry must be a JSON object/],
    ['entry is null', null, /an entry must be a JSON object/],
  ];
  for (const [what, entry, problem] of cases) {
    test(what, { timeout: 120_000 }, () => {
      const good = { vendor_id: '15b3' };
      assert.throws(
        () => parseDeviceSpecs([good, entry]),
        (e: unknown) => {
          assert.ok(e instanceof DeviceSpecError);
          assert.equal(e.entryIndex, 1);
          assert.deepEqual(e.entry, entry);
          const shown = typeof entry === 'string' ? entry : JSON.stringify(entry);
          assert.ok(e.message.startsWith(`device_spec entry 1 (${shown}): `), e.message);
          assert.match(e.message, problem);
          return true;
        },
      );
    });
  }
  test('a string that is not JSON', { timeout: 120_000 }, () => {
    assert.throws(() => parseDeviceSpecs(['{address: 1}']), /device_spec entry 0 \(\{address: 1\}\): not valid JSON/);
  });
  test('a JSON string holding a non-object', { timeout: 120_000 }, () => {
    assert.throws(() => parseDeviceSpecs(['[{"vendor_id": "15b3"}, 3]']), /device_spec entry 0 .*an entry must be a JSON object/);
  });
});
