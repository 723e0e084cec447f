import { vfAddress } from '../inventory/vfAddresses.js';
import { vdpaNameFor, type HostPrepConfig, type NicTarget } from './config.js';

/**
 * The plan of `host-prep`: what must change for the host to match its
 * config, from the state read off sysfs (and devlink) — only what is
 * missing, in the order the kernel needs it. Pure: the adapter
 * (src/agent/hostPrep/) reads the state and runs the steps.
 */

/** A physical function as the kernel shows it now. */
export interface PfState {
  totalVfs: number;
  numVfs: number;
  /** Routing-id distance of VF 0 from the PF, and between VFs (sriov_offset, sriov_stride). */
  offset: number;
  stride: number;
  /** devlink's eswitch mode, null when not asked (no eswitch_mode in the config) or not reported. */
  eswitchMode: string | null;
}

export interface VdpaDeviceState {
  name: string;
  /** The PCI function it sits on (its management device), null for a software device. */
  parent: string | null;
  /** The vdpa bus driver it is bound to (vhost_vdpa, virtio_vdpa), null when unbound. */
  driver: string | null;
}

export interface HostState {
  /** Per PF address; a PF absent here does not exist on the host. */
  pfs: Map<string, PfState>;
  /** /sys/bus/vdpa exists (the vdpa module is loaded). */
  vdpaBus: boolean;
  /** The vhost_vdpa driver is registered on the vdpa bus. */
  vhostVdpaLoaded: boolean;
  /** The vdpa bus's drivers_autoprobe, null without the bus. */
  autoprobe: boolean | null;
  vdpaDevices: VdpaDeviceState[];
}

/** Paths are relative to the sysfs root (bus/pci/devices/…/sriov_numvfs); a write is `echo VALUE > PATH`. */
export type PrepStep =
  | { kind: 'write'; path: string; value: string }
  | { kind: 'exec'; argv: string[] };

export interface HostPrepPlan {
  steps: PrepStep[];
  /** Run after the steps, also when one failed (settings the steps changed only for their own sake). */
  finally: PrepStep[];
}

export class HostPrepPlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostPrepPlanError';
  }
}

export const VHOST_VDPA = 'vhost_vdpa';

const write = (path: string, value: string | number): PrepStep => ({ kind: 'write', path, value: String(value) });
const exec = (...argv: string[]): PrepStep => ({ kind: 'exec', argv });
const numVfsPath = (pf: string) => `bus/pci/devices/${pf}/sriov_numvfs`;

/** The VF addresses the kernel gives `count` VFs of the PF: routing id of the PF + offset + i × stride. */
export function vfAddressesOf(pf: string, state: Pick<PfState, 'offset' | 'stride'>, count: number): string[] {
  return Array.from({ length: count }, (_x, i) => vfAddress(pf, state.offset + i * state.stride));
}

interface NicPlan {
  steps: PrepStep[];
  /** VFs whose devices the steps remove (their VFs are destroyed and created again). */
  recreated: boolean;
}

/** The VF count and eswitch mode: a mode change and a count change both need the VFs gone first. */
function planNic(nic: NicTarget, pf: PfState): NicPlan {
  const steps: PrepStep[] = [];
  const modeWrong = nic.eswitchMode !== null && pf.eswitchMode !== nic.eswitchMode;
  const countWrong = pf.numVfs !== nic.numVfs;
  if (modeWrong) {
    if (pf.numVfs > 0) steps.push(write(numVfsPath(nic.pf), 0));
    steps.push(exec('devlink', 'dev', 'eswitch', 'set', `pci/${nic.pf}`, 'mode', nic.eswitchMode!));
    if (nic.numVfs > 0) steps.push(write(numVfsPath(nic.pf), nic.numVfs));
  } else if (countWrong) {
    // The kernel refuses to change a non-zero count to another one directly (EBUSY).
    if (pf.numVfs > 0 && nic.numVfs > 0) steps.push(write(numVfsPath(nic.pf), 0));
    steps.push(write(numVfsPath(nic.pf), nic.numVfs));
  }
  return { steps, recreated: (modeWrong && pf.numVfs > 0) || countWrong };
}

export function planHostPrep(config: HostPrepConfig, state: HostState): HostPrepPlan {
  const nicSteps: PrepStep[] = [];
  const vdpaSteps: PrepStep[] = [];
  let adds = 0;
  const removed = new Set<string>(); // VFs whose vDPA devices go with them
  const wanted: Array<{ name: string; vf: string; existing: VdpaDeviceState | undefined }> = [];

  for (const [i, nic] of config.nics.entries()) {
    const pf = state.pfs.get(nic.pf);
    if (!pf) throw new HostPrepPlanError(`nics[${i}]: no PCI function ${nic.pf} on this host`);
    if (nic.numVfs > pf.totalVfs) throw new HostPrepPlanError(`nics[${i}]: ${nic.pf} supports at most ${pf.totalVfs} VFs (sriov_totalvfs), not ${nic.numVfs}`);
    const planned = planNic(nic, pf);
    nicSteps.push(...planned.steps);
    if (planned.recreated) for (const vf of vfAddressesOf(nic.pf, pf, pf.numVfs)) removed.add(vf);
    if (!nic.vdpa) continue;
    for (const [n, vf] of vfAddressesOf(nic.pf, pf, nic.numVfs).entries()) {
      const existing = planned.recreated ? undefined : state.vdpaDevices.find((d) => d.parent === vf);
      wanted.push({ name: existing?.name ?? vdpaNameFor(nic.vdpaName, i, nic.pf, n), vf, existing });
    }
  }

  const taken = new Map(state.vdpaDevices.filter((d) => d.parent === null || !removed.has(d.parent)).map((d) => [d.name, d.parent]));
  const named = new Set<string>();
  for (const w of wanted) {
    if (named.has(w.name)) throw new HostPrepPlanError(`vDPA device name ${w.name} would be given twice (check vdpa_name)`);
    named.add(w.name);
    if (w.existing) {
      if (w.existing.driver === VHOST_VDPA) continue;
      if (w.existing.driver) vdpaSteps.push(write(`bus/vdpa/drivers/${w.existing.driver}/unbind`, w.name));
      vdpaSteps.push(write(`bus/vdpa/drivers/${VHOST_VDPA}/bind`, w.name));
      continue;
    }
    if (taken.has(w.name)) throw new HostPrepPlanError(`vDPA device name ${w.name} is taken by the device on ${taken.get(w.name) ?? 'no PCI function'}`);
    vdpaSteps.push(exec('vdpa', 'dev', 'add', 'name', w.name, 'mgmtdev', `pci/${w.vf}`));
    vdpaSteps.push(write(`bus/vdpa/drivers/${VHOST_VDPA}/bind`, w.name));
    adds++;
  }

  const steps = [...nicSteps];
  const after: PrepStep[] = [];
  if (vdpaSteps.length > 0 && !state.vhostVdpaLoaded) steps.push(exec('modprobe', VHOST_VDPA));
  // New devices are bound by hand: with autoprobe on, whichever vdpa bus driver is loaded would take them first.
  if (adds > 0 && state.autoprobe !== false) {
    steps.push(write('bus/vdpa/drivers_autoprobe', 0));
    after.push(write('bus/vdpa/drivers_autoprobe', 1));
  }
  steps.push(...vdpaSteps);
  return { steps, finally: after };
}
