import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libvirtVersionString, readHostVersions, readKernelRelease } from '../../../src/agent/discovery/hostVersions.js';
import { vdpaSupportProblem } from '../../../src/domain/inventory/hostRequirements.js';

test('the kernel release comes from proc/sys/kernel/osrelease, libvirt and QEMU from the driver', { timeout: 300_000 }, async (t) => {
  const proc = await mkdtemp(join(tmpdir(), 'vdpa-proc-'));
  t.after(() => rm(proc, { recursive: true, force: true }));
  await mkdir(join(proc, 'sys/kernel'), { recursive: true });
  await writeFile(join(proc, 'sys/kernel/osrelease'), '5.4.0-150-generic\n');
  const versions = await readHostVersions({ procRoot: proc, libvirt: libvirtVersionString(9000000), qemu: '7.2.0' });
  assert.deepEqual(versions, { kernel: '5.4.0-150-generic', libvirt: '9.0.0', qemu: '7.2.0' });
  assert.equal(vdpaSupportProblem(versions), 'vDPA needs Linux kernel 5.7 or newer (host has 5.4.0-150-generic)');
});

test('this machine has a readable kernel release', { timeout: 300_000 }, async () => {
  assert.match(await readKernelRelease(), /^\d+\.\d+/);
});

test('a missing osrelease under a given proc root is an error, not a guess', { timeout: 300_000 }, async () => {
  await assert.rejects(readKernelRelease('/nonexistent-proc'), /ENOENT/);
});

test('libvirt version numbers decode as major.minor.release', { timeout: 300_000 }, () => {
  assert.equal(libvirtVersionString(6009000), '6.9.0');
  assert.equal(libvirtVersionString(10010002), '10.10.2');
});
