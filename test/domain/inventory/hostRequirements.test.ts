import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareVersions, parseVersion, vdpaSupportProblem } from '../../../src/domain/inventory/hostRequirements.js';

test('a host at or above every minimum supports vDPA', { timeout: 120_000 }, () => {
  assert.equal(vdpaSupportProblem({ kernel: '6.1.0-18-amd64', libvirt: '9.0.0', qemu: '7.2.0' }), null);
  assert.equal(vdpaSupportProblem({ kernel: '5.7', libvirt: '6.9.0', qemu: '5.1' }), null);
  assert.equal(vdpaSupportProblem({ kernel: '5.7.0', libvirt: '6.9', qemu: '5.1.0+dfsg-4' }), null);
});

test('each minimum missed is named with the host version', { timeout: 120_000 }, () => {
  assert.equal(vdpaSupportProblem({ kernel: '5.4.0', libvirt: '9.0.0', qemu: '7.2.0' }),
    'vDPA needs Linux kernel 5.7 or newer (host has 5.4.0)');
  assert.equal(vdpaSupportProblem({ kernel: '5.6.19-generic', libvirt: '6.8.0', qemu: '5.0.1' }),
    'vDPA needs Linux kernel 5.7 or newer (host has 5.6.19-generic); vDPA needs libvirt 6.9.0 or newer (host has 6.8.0); '
    + 'vDPA needs QEMU 5.1 or newer (host has 5.0.1)');
  assert.equal(vdpaSupportProblem({ kernel: '6.1', libvirt: '6.10.0', qemu: '10.0' }), null, 'versions compare numerically');
});

test('an unreadable version is a problem, not a pass', { timeout: 120_000 }, () => {
  assert.match(vdpaSupportProblem({ kernel: 'unknown', libvirt: '9.0.0', qemu: '7.2.0' })!, /cannot read the host's version "unknown"/);
});

test('versions parse from their leading numbers', { timeout: 120_000 }, () => {
  assert.deepEqual(parseVersion('6.1.0-18-amd64'), [6, 1, 0]);
  assert.deepEqual(parseVersion('v9.0'), [9, 0]);
  assert.equal(parseVersion('abc'), null);
  assert.ok(compareVersions([6, 10], [6, 9, 5]) > 0);
  assert.equal(compareVersions([5, 7], [5, 7, 0]), 0);
});
