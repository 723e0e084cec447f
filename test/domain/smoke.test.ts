import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pciSlotName } from '../../src/domain/pci/device.js';

test('a PCI address becomes libvirt node device name', { timeout: 120_000 }, () => {
  assert.equal(pciSlotName('0000:06:00.1'), 'pci_0000_06_00_1');
});
