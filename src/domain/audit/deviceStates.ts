/**
 * Rule 3, the PF/VF counting rule (behaviour.md "Devices on a host"): while
 * any child VF of a PF is claimed or allocated the PF is unavailable; while a
 * PF is claimed or allocated its VFs are unavailable; nothing is unavailable
 * without one of those reasons. A free device carries no server or consumer.
 */
import type { DeviceStatus } from '../pci/device.js';
import { finding, type Finding } from './findings.js';
import { deviceKey, inUse, type SnapshotIndex } from './snapshotIndex.js';
import type { AuditDevice, AuditSnapshot } from './snapshot.js';

function setStatus(d: AuditDevice, to: DeviceStatus) {
  return {
    does: `set ${d.host}/${d.address} ${to === d.status ? `(still ${to}) free of its server and consumer labels` : `to ${to}`}, then recount ${d.host}'s pools`,
    repair: { kind: 'set-device-status' as const, id: d.id, host: d.host, address: d.address, from: d.status, to },
  };
}

export function deviceStateFindings(s: AuditSnapshot, x: SnapshotIndex): Finding[] {
  const out: Finding[] = [];
  const children = new Map<string, AuditDevice[]>();
  for (const d of s.devices) {
    if (d.parentAddr === null) continue;
    const key = deviceKey(d.host, d.parentAddr);
    const list = children.get(key);
    if (list) list.push(d);
    else children.set(key, [d]);
  }
  const wrongStatus = (d: AuditDevice, to: DeviceStatus, why: string) => {
    out.push(finding('device-status-wrong', `device ${d.host}/${d.address} (${d.devType}) is ${d.status} but should be ${to}: ${why}`,
      { host: d.host, address: d.address }, setStatus(d, to)));
  };
  for (const d of s.devices) {
    const kids = children.get(deviceKey(d.host, d.address)) ?? [];
    const busyKids = kids.filter((c) => inUse(c.status));
    const parent = d.parentAddr === null ? undefined : x.devices.get(deviceKey(d.host, d.parentAddr));
    const parentBusy = parent !== undefined && inUse(parent.status);
    if (inUse(d.status)) {
      if (busyKids.length) {
        out.push(finding('pf-and-vf-both-in-use',
          `PF ${d.host}/${d.address} is ${d.status} while its VF${busyKids.length > 1 ? 's' : ''} ${busyKids.map((c) => c.address).join(', ')} ${busyKids.length > 1 ? 'are' : 'is'} in use too: one device handed out twice`,
          { host: d.host, address: d.address, children: busyKids.map((c) => c.address) }));
      }
      continue;
    }
    if (d.status === 'removed') continue;
    if (busyKids.length && d.status !== 'unavailable') {
      wrongStatus(d, 'unavailable', `its VF ${busyKids[0]!.address} is ${busyKids[0]!.status}`);
    } else if (parentBusy && d.status !== 'unavailable') {
      wrongStatus(d, 'unavailable', `its PF ${parent.address} is ${parent.status}`);
    } else if (d.status === 'unavailable' && !busyKids.length && !parentBusy) {
      wrongStatus(d, d.missing ? 'removed' : 'available', 'neither its PF nor any of its VFs is claimed or allocated');
    } else if (d.instanceUuid !== null || d.consumer !== null) {
      out.push(finding('free-device-labelled',
        `device ${d.host}/${d.address} is ${d.status} but still names server ${d.instanceUuid ?? 'none'} and consumer ${d.consumer ?? 'none'}`,
        { host: d.host, address: d.address }, setStatus(d, d.status)));
    }
  }
  return out;
}
