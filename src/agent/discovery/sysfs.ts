/**
 * Discovery from Linux sysfs: PCI functions under bus/pci/devices and vDPA
 * devices under bus/vdpa/devices. `root` is normally /sys; tests hand in a
 * fixture tree laid out the same way, symlinks included.
 */
import { readFile, readdir, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { DiscoveredFunction } from '../../domain/pci/device.js';
import { classifyFunctions, hexId, numaNodeOf, type DiscoveryOptions, type RawPciFunction, type RawVdpaDevice } from './classify.js';

const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const VHOST_VDPA = /^vhost-vdpa-(\d+)$/;

export class SysfsDiscoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SysfsDiscoveryError';
  }
}

export async function discoverFromSysfs(root: string, opts: DiscoveryOptions = {}): Promise<DiscoveredFunction[]> {
  const pciDevices = join(root, 'bus/pci/devices');
  let names: string[];
  try {
    names = await readdir(pciDevices);
  } catch (e) {
    // Every Linux host has this directory: its absence means a wrong root, not an empty host.
    throw new SysfsDiscoveryError(`cannot list PCI devices under ${root}: ${(e as Error).message}`);
  }
  const addresses = names.filter((a) => PCI_ADDRESS.test(a));
  const functions = await Promise.all(addresses.map(async (address) => {
    const dir = await realpath(join(pciDevices, address));
    return { dir, fn: await readPciFunction(address, dir) };
  }));
  const addressOfDir = new Map(functions.map(({ dir, fn }) => [dir, fn.address]));

  const vdpaDevices = join(root, 'bus/vdpa/devices');
  const vdpa = await Promise.all((await listDir(vdpaDevices)).map(async (name): Promise<RawVdpaDevice> => {
    // The bus entry links to the device's own directory, which sits inside its parent's.
    const dir = await realpath(join(vdpaDevices, name));
    return { name, parentPci: addressOfDir.get(dirname(dir)) ?? null, chardev: await vhostChardev(dir) };
  }));
  return classifyFunctions(functions.map((f) => f.fn), vdpa, opts);
}

async function readPciFunction(address: string, dir: string): Promise<RawPciFunction> {
  const entries = new Set(await listDir(dir));
  const attr = async (name: string) => (entries.has(name) ? (await readFile(join(dir, name), 'utf8')).trim() : null);
  const [vendor, device, cls, numa] = await Promise.all([attr('vendor'), attr('device'), attr('class'), attr('numa_node')]);
  const netdevs = entries.has('net') ? (await listDir(join(dir, 'net'))).sort() : [];
  return {
    address,
    vendorId: hexId(vendor ?? '0'),
    productId: hexId(device ?? '0'),
    classCode: cls === null ? null : parseInt(cls, 16),
    numaNode: numaNodeOf(numa),
    physfn: entries.has('physfn') ? basename(await readlink(join(dir, 'physfn'))) : null,
    sriovCapable: entries.has('sriov_totalvfs') || [...entries].some((e) => /^virtfn\d+$/.test(e)),
    devname: netdevs[0] ?? null,
  };
}

/** vhost_vdpa creates its character device as a child device named vhost-vdpa-N. */
async function vhostChardev(vdpaDir: string): Promise<string | null> {
  const child = (await listDir(vdpaDir)).find((e) => VHOST_VDPA.test(e));
  return child ? `/dev/${child}` : null;
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []; // e.g. no vdpa bus: the module is not loaded
    throw e;
  }
}
