/**
 * Parent/child state rules (behaviour.md, "Devices on a host"): a PF and its
 * VF/vdpa children block each other. Functions compute the changes; callers
 * persist them (conditionally on `from`) and apply them with applyChanges.
 */
import { ClaimConflict } from '../errors.js';
import type { DeviceStatus, HostDevice } from './device.js';

export interface DeviceChange {
  id: number;
  address: string;
  from: DeviceStatus;
  to: DeviceStatus;
  instanceUuid: string | null;
}

const IN_USE: ReadonlySet<DeviceStatus> = new Set(['claimed', 'allocated']);

/**
 * Claim or allocate `target` for an instance. `family` is the target's tracked
 * parent PF and that PF's tracked children (or a PF target's children); the
 * target itself may or may not be in it. Moving the instance's own claim to
 * allocated, or repeating the same step, is allowed.
 */
export function allocateDevice(
  target: HostDevice,
  family: HostDevice[],
  instanceUuid: string,
  to: 'claimed' | 'allocated' = 'allocated',
): DeviceChange[] {
  if (target.missing) throw new ClaimConflict(`PCI device ${target.address} is missing from host ${target.host}`);
  const ownStep = IN_USE.has(target.status) && target.instanceUuid === instanceUuid
    && (to === 'allocated' || target.status === 'claimed');
  if (target.status !== 'available' && !ownStep) {
    throw new ClaimConflict(`PCI device ${target.address} on host ${target.host} is ${target.status}, not available`);
  }
  const others = family.filter((d) => d.id !== target.id);
  const changes = [change(target, to, instanceUuid)];

  if (target.devType === 'type-PF') {
    const busyChild = childrenOf(target, others).find((c) => IN_USE.has(c.status));
    if (busyChild) {
      throw new ClaimConflict(`PCI device ${target.address} has child ${busyChild.address} ${busyChild.status}`);
    }
    for (const child of childrenOf(target, others)) {
      if (child.status === 'available') changes.push(change(child, 'unavailable', null));
    }
  } else {
    const parent = parentOf(target, others);
    if (parent && IN_USE.has(parent.status)) {
      throw new ClaimConflict(`PCI device ${target.address} has its PF ${parent.address} ${parent.status}`);
    }
    if (parent && parent.status === 'available') changes.push(change(parent, 'unavailable', null));
  }
  return realChanges(changes);
}

/**
 * Release `target` (to removed if it vanished from the host). A parent PF comes
 * back when no other child is in use; a freed PF releases its children.
 */
export function freeDevice(target: HostDevice, family: HostDevice[]): DeviceChange[] {
  // Only a device in use has anything to give back; an unavailable VF stays blocked by its PF.
  if (!IN_USE.has(target.status)) return [];
  const others = family.filter((d) => d.id !== target.id);
  const changes = [change(target, released(target), null)];

  if (target.devType === 'type-PF') {
    for (const child of childrenOf(target, others)) {
      if (child.status === 'unavailable') changes.push(change(child, released(child), null));
    }
  } else {
    const parent = parentOf(target, others);
    const siblingsInUse = parent !== undefined
      && childrenOf(parent, others).some((c) => IN_USE.has(c.status));
    if (parent && parent.status === 'unavailable' && !siblingsInUse) {
      changes.push(change(parent, released(parent), null));
    }
  }
  return realChanges(changes);
}

/**
 * Copies of `devices` with `changes` applied. A change whose `from` no longer
 * matches the device means the caller decided on stale data: ClaimConflict.
 */
export function applyChanges<T extends HostDevice>(devices: T[], changes: DeviceChange[]): T[] {
  const byId = new Map(changes.map((c) => [c.id, c]));
  return devices.map((d) => {
    const c = byId.get(d.id);
    if (!c) return { ...d };
    if (d.status !== c.from) {
      throw new ClaimConflict(`PCI device ${d.address} is ${d.status}, expected ${c.from}`);
    }
    return { ...d, status: c.to, instanceUuid: c.instanceUuid };
  });
}

function released(d: HostDevice): DeviceStatus {
  return d.missing || d.status === 'removed' ? 'removed' : 'available';
}

function childrenOf(pf: HostDevice, devices: HostDevice[]): HostDevice[] {
  return devices.filter((d) => d.parentAddr === pf.address && d.host === pf.host);
}

function parentOf(child: HostDevice, devices: HostDevice[]): HostDevice | undefined {
  if (child.parentAddr === null) return undefined;
  return devices.find((d) => d.address === child.parentAddr && d.host === child.host);
}

interface Step { device: HostDevice; to: DeviceStatus; instanceUuid: string | null }

function change(device: HostDevice, to: DeviceStatus, instanceUuid: string | null): Step {
  return { device, to, instanceUuid };
}

/** Only devices whose status or owner actually changes. */
function realChanges(steps: Step[]): DeviceChange[] {
  return steps
    .filter((s) => s.device.status !== s.to || s.device.instanceUuid !== s.instanceUuid)
    .map((s) => ({ id: s.device.id, address: s.device.address, from: s.device.status, to: s.to, instanceUuid: s.instanceUuid }));
}
