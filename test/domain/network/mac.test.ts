import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidUnicastMac, macFromRandomBytes } from '../../../src/domain/network/mac.js';

test('port MACs carry the fa:16:3e prefix and the random octets in hex', { timeout: 120_000 }, () => {
  assert.equal(macFromRandomBytes(Uint8Array.from([0, 0xab, 0xff])), 'fa:16:3e:00:ab:ff');
  assert.throws(() => macFromRandomBytes(Uint8Array.from([1, 2])), RangeError);
});

test('a requested MAC must be six octets and unicast', { timeout: 120_000 }, () => {
  assert.equal(isValidUnicastMac('fa:16:3e:00:ab:ff'), true);
  assert.equal(isValidUnicastMac('FA:16:3E:00:AB:FF'), true);
  assert.equal(isValidUnicastMac('01:00:5e:00:00:01'), false, 'multicast');
  assert.equal(isValidUnicastMac('00:00:00:00:00:00'), false);
  assert.equal(isValidUnicastMac('fa:16:3e:00:ab'), false);
  assert.equal(isValidUnicastMac('fa-16-3e-00-ab-ff'), false);
});
