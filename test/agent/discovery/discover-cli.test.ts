import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSysfs, STANDARD_HOST } from './sysfsFixture.js';

// The real CLI once it registers `discover`; until then a test-only entry with just that command.
const mainJs = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const entry = existsSync(mainJs) && readFileSync(mainJs, 'utf8').includes('registerDiscoverCommand')
  ? mainJs
  : fileURLToPath(new URL('./discoverEntry.js', import.meta.url));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [entry, 'discover', ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('`discover` prints the tracked devices as JSON and exits 0', { timeout: 300_000 }, async (t) => {
  const root = await buildSysfs(STANDARD_HOST);
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-cli-'));
  t.after(async () => { await rm(root, { recursive: true, force: true }); await rm(dir, { recursive: true, force: true }); });
  const spec = join(dir, 'spec.json');
  await writeFile(spec, JSON.stringify([{ vendor_id: '15b3', product_id: '101e', physical_network: 'physnet0' }]));
  const { code, stdout, stderr } = await run(['--sysfs-root', root, '--device-spec', spec]);
  assert.equal(code, 0, stderr);
  const devices = JSON.parse(stdout) as Array<Record<string, unknown>>;
  assert.deepEqual(devices.map((d) => [d.address, d.dev_type, d.vdpa_chardev ?? null]), [
    ['0000:06:00.1', 'vdpa', '/dev/vhost-vdpa-0'],
    ['0000:06:00.2', 'vdpa', '/dev/vhost-vdpa-1'],
    ['0000:06:00.3', 'vdpa', '/dev/vhost-vdpa-2'],
    ['0000:06:00.4', 'vdpa', '/dev/vhost-vdpa-3'],
    ['0000:06:00.5', 'type-VF', null],
  ]);

  const sim = await run(['--sysfs-root', root, '--device-spec', spec, '--track-software-vdpa']);
  assert.equal(sim.code, 0, sim.stderr);
  assert.equal(JSON.parse(sim.stdout).length, 5, 'vdpa_sim (0000:0000) is not matched by a 15b3 spec');
});

test('`discover --source libvirt --nodedev-dir` reads node device XML files', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const spec = join(dir, 'spec.yaml');
  await writeFile(spec, '- {vendor_id: "15b3", product_id: "101e", physical_network: physnet0}\n');
  const nodedevDir = fileURLToPath(new URL('../../../../test/fixtures/libvirt/', import.meta.url));
  const { code, stdout, stderr } = await run(['--source', 'libvirt', '--nodedev-dir', nodedevDir, '--device-spec', spec]);
  assert.equal(code, 0, stderr);
  assert.deepEqual((JSON.parse(stdout) as Array<{ dev_type: string }>).map((d) => d.dev_type), ['vdpa', 'vdpa', 'type-VF', 'type-VF']);
});

test('a malformed device_spec exits non-zero with a message naming the entry', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const spec = join(dir, 'spec.json');
  await writeFile(spec, JSON.stringify([{ vendor_id: '15b3' }, { address: '0000:06:00.1', devname: 'eth0' }]));
  const { code, stdout, stderr } = await run(['--sysfs-root', dir, '--device-spec', spec]);
  assert.notEqual(code, 0);
  assert.equal(stdout, '');
  assert.match(stderr, /device_spec entry 1 \(\{"address":"0000:06:00\.1","devname":"eth0"\}\): "address" and "devname" cannot both be given/);
});

test('an unknown --source is refused', { timeout: 300_000 }, async () => {
  const { code, stderr } = await run(['--source', 'xen', '--device-spec', '/dev/null']);
  assert.notEqual(code, 0);
  assert.match(stderr, /xen/);
});

test('`discover --numa` prints the NUMA cells of a sysfs tree in the inventory format', { timeout: 300_000 }, async () => {
  // test/fixtures/sysfs-numa: two nodes with SMT sibling CPU lists, meminfo, 1 GiB pages on both, 2 MiB pages on
  // node 1 only (a size with 0 pages is left out), the socket from cpuN/topology/physical_package_id; no PCI device.
  const root = fileURLToPath(new URL('../../../../test/fixtures/sysfs-numa/', import.meta.url));
  const { code, stdout, stderr } = await run(['--numa', '--sysfs-root', root, '--device-spec', join(root, 'device-spec.yaml')]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout), {
    numa_cells: [
      { id: 0, socket: 0, cpus: '0-7,16-23', memory_mb: 64300, hugepages: { 1048576: 16 } },
      { id: 1, socket: 1, cpus: '8-15,24-31', memory_mb: 64508, hugepages: { 2048: 512, 1048576: 8 } },
    ],
    devices: [],
  });
});
