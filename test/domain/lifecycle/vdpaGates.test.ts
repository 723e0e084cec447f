import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VDPA_MIN_SERVICE_VERSION, vdpaOperationGate, vdpaRefusalMessage, type VdpaGatedOperation } from '../../../src/domain/lifecycle/vdpaGates.js';

const ID = '6f1b0b9e-1c1e-4a57-9d52-3f7c3c2b1a10';

test('Nova numbers: 62 for interface attach/detach, 63 for suspend, resume and live migration', { timeout: 120_000 }, () => {
  assert.deepEqual(VDPA_MIN_SERVICE_VERSION, {
    attach_interface: 62, detach_interface: 62, suspend: 63, resume: 63, 'live-migration': 63,
  });
});

test('a server with vDPA ports is refused below the version and allowed at or above it', { timeout: 120_000 }, () => {
  for (const [op, min] of Object.entries(VDPA_MIN_SERVICE_VERSION) as [VdpaGatedOperation, number][]) {
    assert.equal(vdpaOperationGate(op, true, min - 1, ID),
      `Operation '${op}' not supported for instance with vDPA ports (${ID}).`);
    assert.equal(vdpaOperationGate(op, true, min, ID), null);
    assert.equal(vdpaOperationGate(op, true, min + 5, ID), null);
  }
});

test('version 62 allows attach/detach but refuses suspend, resume and live migration', { timeout: 120_000 }, () => {
  assert.equal(vdpaOperationGate('attach_interface', true, 62, ID), null);
  assert.equal(vdpaOperationGate('detach_interface', true, 62, ID), null);
  assert.equal(vdpaOperationGate('suspend', true, 62, ID), vdpaRefusalMessage('suspend', ID));
  assert.equal(vdpaOperationGate('resume', true, 62, ID), vdpaRefusalMessage('resume', ID));
  assert.equal(vdpaOperationGate('live-migration', true, 62, ID), vdpaRefusalMessage('live-migration', ID));
});

test('servers without vDPA ports are never gated, whatever the versions', { timeout: 120_000 }, () => {
  for (const op of Object.keys(VDPA_MIN_SERVICE_VERSION) as VdpaGatedOperation[]) {
    assert.equal(vdpaOperationGate(op, false, 1, ID), null);
    assert.equal(vdpaOperationGate(op, false, null, ID), null);
  }
});

test('no known compute service counts as too old', { timeout: 120_000 }, () => {
  assert.equal(vdpaOperationGate('suspend', true, null, ID), vdpaRefusalMessage('suspend', ID));
});
