/**
 * Rule 1, ports' side: a bound port's binding names the device its server
 * holds for it (binding:profile pci_slot), and a settled server holds no
 * device that neither a port's binding nor its flavor's aliases account for.
 */
import { finding, type Finding } from './findings.js';
import { deviceKey, inUse, type SnapshotIndex } from './snapshotIndex.js';
import type { AuditSnapshot } from './snapshot.js';

export function portDeviceFindings(s: AuditSnapshot, x: SnapshotIndex): Finding[] {
  const out: Finding[] = [];
  for (const p of s.ports) {
    const server = x.instances.get(p.deviceId);
    if (!server || p.hostId === '') continue;
    if (p.pciSlot !== null) {
      const d = x.devices.get(deviceKey(p.hostId, p.pciSlot));
      if (!d || !inUse(d.status) || d.instanceUuid !== server.uuid) {
        const what = d ? `${d.status}${d.instanceUuid ? ` for ${d.instanceUuid}` : ''}` : 'not tracked';
        out.push(finding('port-device-mismatch',
          `port ${p.id} of server ${server.uuid} is bound to device ${p.hostId}/${p.pciSlot}, which is ${what}`,
          { port: p.id, server: server.uuid, host: p.hostId, address: p.pciSlot }));
      }
    } else if (server.devicePortIds.includes(p.id)) {
      out.push(finding('port-without-device',
        `port ${p.id} of server ${server.uuid} is bound on ${p.hostId} without the device its vnic_type needs (no pci_slot in binding:profile)`,
        { port: p.id, server: server.uuid, host: p.hostId }));
    }
  }
  for (const i of s.instances) {
    if (i.taskState !== null || i.host === null) continue;
    const named = new Set((x.portsOfServer.get(i.uuid) ?? []).filter((p) => p.hostId === i.host && p.pciSlot !== null).map((p) => p.pciSlot));
    const unnamed = (x.heldDevices.get(i.uuid) ?? []).filter((d) => d.host === i.host && !named.has(d.address));
    if (unnamed.length > i.aliasDeviceCount) {
      out.push(finding('device-not-in-port-binding',
        `server ${i.uuid} holds ${unnamed.length} device(s) on ${i.host} that no port binding names, but its flavor asks for ${i.aliasDeviceCount}: ${unnamed.map((d) => d.address).join(', ')}`,
        { server: i.uuid, host: i.host, devices: unnamed.map((d) => `${d.host}/${d.address}`) }));
    }
  }
  return out;
}
