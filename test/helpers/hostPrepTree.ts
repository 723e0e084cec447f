import { mkdir, readFile, readdir, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { vfAddress } from '../../src/domain/inventory/vfAddresses.js';

/**
 * Sysfs trees for host-prep tests, laid out as Linux lays them (PCI
 * functions under devices/, links under bus/, vdpa devices inside their VF's
 * directory), and a simulated kernel for the writes `--apply` makes. The
 * eswitch mode, which only devlink reports, sits in devlink/eswitch/<pf>
 * beside sys/ for the stand-in devlink (test/fixtures/hostprep/bin/).
 */
export interface PfSpec { address: string; totalVfs: number; offset: number; stride: number; numVfs: number; eswitch: 'legacy' | 'switchdev' }
export interface VdpaSpec { name: string; vf: string; driver: string | null }
export interface TreeSpec { pfs: PfSpec[]; vdpaModule: boolean; drivers: string[]; autoprobe: 0 | 1; vdpa: VdpaSpec[] }

const BRIDGE = 'devices/pci0000:3a/0000:3a:00.0';

async function link(root: string, linkPath: string, target: string): Promise<void> {
  const at = join(root, linkPath);
  await mkdir(dirname(at), { recursive: true });
  await symlink(relative(dirname(at), join(root, target)), at);
}

async function attr(dir: string, name: string, value: string | number): Promise<void> {
  await writeFile(join(dir, name), `${value}\n`);
}

async function pciFunction(sys: string, address: string, device: string): Promise<string> {
  const dir = join(sys, BRIDGE, address);
  await mkdir(dir, { recursive: true });
  for (const [k, v] of [['vendor', '0x15b3'], ['device', device], ['class', '0x020000'], ['numa_node', '0']]) await attr(dir, k!, v!);
  await link(sys, `bus/pci/devices/${address}`, `${BRIDGE}/${address}`);
  return dir;
}

async function createVfs(sys: string, pf: string, offset: number, stride: number, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const vf = vfAddress(pf, offset + i * stride);
    await pciFunction(sys, vf, '0x101e');
    await link(sys, `${BRIDGE}/${vf}/physfn`, `${BRIDGE}/${pf}`);
    await link(sys, `${BRIDGE}/${pf}/virtfn${i}`, `${BRIDGE}/${vf}`);
  }
}

/** The VFs go, and the vdpa devices on them with them (as mlx5 removes them). */
async function removeVfs(sys: string, pf: string): Promise<void> {
  const pfDir = join(sys, BRIDGE, pf);
  for (const entry of await readdir(pfDir)) {
    if (!/^virtfn\d+$/.test(entry)) continue;
    const vf = basename(await readlink(join(pfDir, entry)));
    const vfDir = join(sys, BRIDGE, vf);
    for (const dev of await readdir(join(sys, 'bus/vdpa/devices')).catch(() => [] as string[])) {
      const dir = await realpath(join(sys, 'bus/vdpa/devices', dev)).catch(() => null);
      if (dir && dirname(dir) === vfDir) {
        for (const drv of await readdir(join(sys, 'bus/vdpa/drivers')).catch(() => [] as string[])) await rm(join(sys, 'bus/vdpa/drivers', drv, dev), { force: true });
        await rm(join(sys, 'bus/vdpa/devices', dev), { force: true });
      }
    }
    await rm(vfDir, { recursive: true, force: true });
    await rm(join(sys, 'bus/pci/devices', vf), { force: true });
    await rm(join(pfDir, entry), { force: true });
  }
}

async function vdpaBus(sys: string, drivers: string[], autoprobe: number): Promise<void> {
  await mkdir(join(sys, 'bus/vdpa/devices'), { recursive: true });
  for (const d of drivers) await mkdir(join(sys, 'bus/vdpa/drivers', d), { recursive: true });
  await attr(join(sys, 'bus/vdpa'), 'drivers_autoprobe', autoprobe);
}

let chardevs = 0;

async function bindVdpa(sys: string, name: string, driver: string): Promise<void> {
  const devDir = await realpath(join(sys, 'bus/vdpa/devices', name));
  const rel = relative(sys, devDir);
  await link(sys, `${rel}/driver`, `bus/vdpa/drivers/${driver}`);
  await link(sys, `bus/vdpa/drivers/${driver}/${name}`, rel);
  if (driver === 'vhost_vdpa') {
    const n = chardevs++;
    await mkdir(join(devDir, `vhost-vdpa-${n}`));
    await attr(join(devDir, `vhost-vdpa-${n}`), 'dev', `511:${n}`);
  }
}

/** Writes the tree `spec` describes under root (root/sys and root/devlink). */
export async function buildHostTree(root: string, spec: TreeSpec): Promise<void> {
  const sys = join(root, 'sys');
  await mkdir(join(sys, 'bus/pci/devices'), { recursive: true });
  for (const pf of spec.pfs) {
    const dir = await pciFunction(sys, pf.address, '0x101d');
    for (const [k, v] of [['sriov_totalvfs', pf.totalVfs], ['sriov_numvfs', pf.numVfs], ['sriov_offset', pf.offset], ['sriov_stride', pf.stride]] as const) await attr(dir, k, v);
    await createVfs(sys, pf.address, pf.offset, pf.stride, pf.numVfs);
    await mkdir(join(root, 'devlink/eswitch'), { recursive: true });
    await writeFile(join(root, 'devlink/eswitch', pf.address), `${pf.eswitch}\n`);
  }
  if (spec.vdpaModule) await vdpaBus(sys, spec.drivers, spec.autoprobe);
  for (const d of spec.vdpa) {
    await mkdir(join(sys, BRIDGE, d.vf, d.name), { recursive: true });
    await attr(join(sys, BRIDGE, d.vf, d.name), 'uevent', `DEVNAME=${d.name}`);
    await link(sys, `bus/vdpa/devices/${d.name}`, `${BRIDGE}/${d.vf}/${d.name}`);
    if (d.driver) await bindVdpa(sys, d.name, d.driver);
  }
}

function ebusy(path: string): Error {
  return Object.assign(new Error(`EBUSY: device or resource busy, write '${path}'`), { code: 'EBUSY' });
}

/**
 * What the kernel does on host-prep's writes, for the fixture tree under
 * root/sys: sriov_numvfs creates or removes VFs (refusing a non-zero count
 * over another, EBUSY, as the kernel does), bind/unbind move a vdpa device
 * between drivers (EBUSY when already bound), drivers_autoprobe is kept.
 */
export function simulatedKernel(root: string): (path: string, value: string) => Promise<void> {
  const sys = join(root, 'sys');
  return async (path, value) => {
    const rel = relative(sys, path);
    const numvfs = /^bus\/pci\/devices\/([^/]+)\/sriov_numvfs$/.exec(rel);
    if (numvfs) {
      const pf = numvfs[1]!;
      const dir = join(sys, 'bus/pci/devices', pf);
      const current = Number((await readFile(join(dir, 'sriov_numvfs'), 'utf8')).trim());
      const wanted = Number(value);
      if (current > 0 && wanted > 0 && current !== wanted) throw ebusy(path);
      if (wanted === 0) await removeVfs(sys, pf);
      else if (current === 0) {
        const int = async (a: string) => Number((await readFile(join(dir, a), 'utf8')).trim());
        await createVfs(sys, pf, await int('sriov_offset'), await int('sriov_stride'), wanted);
      }
      await attr(dir, 'sriov_numvfs', wanted);
      return;
    }
    const driverOp = /^bus\/vdpa\/drivers\/([^/]+)\/(bind|unbind)$/.exec(rel);
    if (driverOp) {
      const [, driver, op] = driverOp;
      const devDir = await realpath(join(sys, 'bus/vdpa/devices', value));
      const bound = await readlink(join(devDir, 'driver')).then((l) => basename(l), () => null);
      if (op === 'bind') {
        if (bound) throw ebusy(path);
        await bindVdpa(sys, value, driver!);
      } else {
        if (bound !== driver) throw Object.assign(new Error(`ENODEV: no such device, write '${path}'`), { code: 'ENODEV' });
        await rm(join(devDir, 'driver'));
        await rm(join(sys, 'bus/vdpa/drivers', driver!, value));
        for (const e of await readdir(devDir)) if (e.startsWith('vhost-vdpa-')) await rm(join(devDir, e), { recursive: true });
      }
      return;
    }
    if (rel === 'bus/vdpa/drivers_autoprobe') {
      await attr(join(sys, 'bus/vdpa'), 'drivers_autoprobe', value);
      return;
    }
    throw new Error(`the simulated kernel has no attribute ${rel}`);
  };
}
