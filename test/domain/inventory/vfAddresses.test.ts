import { test } from 'node:test';
import assert from 'node:assert/strict';
import { vfAddress } from '../../../src/domain/inventory/vfAddresses.js';

test('VF addresses are the PF routing id plus the offset (ARI)', { timeout: 120_000 }, () => {
  assert.equal(vfAddress('0000:06:00.0', 1), '0000:06:00.1');
  assert.equal(vfAddress('0000:06:00.0', 7), '0000:06:00.7');
  assert.equal(vfAddress('0000:06:00.0', 8), '0000:06:01.0');
  assert.equal(vfAddress('0000:06:00.0', 17), '0000:06:02.1');
  assert.equal(vfAddress('0000:06:1f.7', 1), '0000:07:00.0', 'past slot 1f the bus carries on');
  assert.equal(vfAddress('0001:3B:00.2', 2), '0001:3b:00.4');
  assert.throws(() => vfAddress('0000:ff:1f.7', 1), RangeError);
  assert.throws(() => vfAddress('06:00.0', 1), RangeError);
});
