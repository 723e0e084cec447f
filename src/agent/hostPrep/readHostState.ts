/**
 * The state host-prep plans from: SR-IOV attributes of the configured PFs
 * (sysfs), the vdpa bus and its devices (sysfs), and each PF's eswitch mode
 * (`devlink -j dev eswitch show`, which sysfs does not carry). Reads only.
 */
import { readFile, readdir, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isPciAddress } from '../../domain/inventory/vfAddresses.js';
import type { HostPrepConfig } from '../../domain/hostPrep/config.js';
import { VHOST_VDPA, type HostState, type PfState, type VdpaDeviceState } from '../../domain/hostPrep/plan.js';
import type { CommandRunner } from './runCommand.js';

export class HostStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostStateError';
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

async function readInt(path: string): Promise<number> {
  const text = (await readFile(path, 'utf8')).trim();
  const n = Number.parseInt(text, 10);
  if (!Number.isInteger(n)) throw new HostStateError(`${path}: expected a number, read '${text}'`);
  return n;
}

async function exists(path: string): Promise<boolean> {
  return readdir(path).then(() => true, () => false);
}

/** The eswitch mode devlink reports for the PF (its JSON output: {dev: {"pci/…": {mode}}}). */
async function eswitchMode(run: CommandRunner, pf: string): Promise<string | null> {
  const argv = ['devlink', '-j', 'dev', 'eswitch', 'show', `pci/${pf}`];
  const out = await run(argv);
  try {
    const parsed = JSON.parse(out) as { dev?: Record<string, { mode?: string }> };
    return parsed.dev?.[`pci/${pf}`]?.mode ?? null;
  } catch {
    throw new HostStateError(`${argv.join(' ')}: cannot read its answer: ${out.slice(0, 200)}`);
  }
}

async function readPf(root: string, pf: string, withMode: boolean, run: CommandRunner): Promise<PfState | null> {
  const dir = join(root, 'bus/pci/devices', pf);
  if (!(await exists(dir))) return null;
  if (!(await listDir(dir)).includes('sriov_totalvfs')) throw new HostStateError(`${pf} is not an SR-IOV physical function (no sriov_totalvfs)`);
  const [totalVfs, numVfs, offset, stride] = await Promise.all(
    ['sriov_totalvfs', 'sriov_numvfs', 'sriov_offset', 'sriov_stride'].map((a) => readInt(join(dir, a))));
  return { totalVfs: totalVfs!, numVfs: numVfs!, offset: offset!, stride: stride!, eswitchMode: withMode ? await eswitchMode(run, pf) : null };
}

/** A vdpa device's parent is the directory it sits in: a PCI function's, named by its address. */
async function readVdpaDevice(root: string, name: string): Promise<VdpaDeviceState> {
  const dir = await realpath(join(root, 'bus/vdpa/devices', name));
  const parentName = basename(dirname(dir));
  const driver = (await listDir(dir)).includes('driver') ? basename(await readlink(join(dir, 'driver'))) : null;
  return { name, parent: isPciAddress(parentName) ? parentName : null, driver };
}

export async function readHostState(root: string, config: HostPrepConfig, run: CommandRunner): Promise<HostState> {
  if (!(await exists(join(root, 'bus/pci/devices')))) throw new HostStateError(`no PCI devices under ${root}: is it a sysfs mount?`);
  const pfs = new Map<string, PfState>();
  for (const nic of config.nics) {
    const state = await readPf(root, nic.pf, nic.eswitchMode !== null, run);
    if (state) pfs.set(nic.pf, state);
  }
  const bus = join(root, 'bus/vdpa');
  const vdpaBus = await exists(bus);
  const autoprobeText = vdpaBus ? await readFile(join(bus, 'drivers_autoprobe'), 'utf8').catch(() => null) : null;
  const names = await listDir(join(bus, 'devices'));
  return {
    pfs,
    vdpaBus,
    vhostVdpaLoaded: await exists(join(bus, 'drivers', VHOST_VDPA)),
    autoprobe: autoprobeText === null ? null : autoprobeText.trim() !== '0',
    vdpaDevices: await Promise.all(names.sort().map((n) => readVdpaDevice(root, n))),
  };
}
