/**
 * Rule 2: a port bound to a server (device_owner compute:…) belongs to a
 * server that exists, and is bound on that server's host. While a task runs
 * the binding may be on a host of the server's move in progress (a cold move
 * binds the destination before the server moves there; a live migration
 * keeps the source until it ends). A server without a host (shelved
 * offloaded, not yet scheduled) keeps device_id on an unbound port. Owner
 * and server agree both ways: the port names the server, the server holds
 * the port.
 */
import { finding, type Finding } from './findings.js';
import { hostsOf, type SnapshotIndex } from './snapshotIndex.js';
import type { AuditSnapshot } from './snapshot.js';

export function portFindings(s: AuditSnapshot, x: SnapshotIndex): Finding[] {
  const out: Finding[] = [];
  for (const p of s.ports) {
    if (p.deviceId === '' || !p.deviceOwner.startsWith('compute:')) continue;
    const server = x.instances.get(p.deviceId);
    if (!server) {
      out.push(finding('port-bound-to-missing-server',
        `port ${p.id} is bound to server ${p.deviceId}${p.hostId ? ` on ${p.hostId}` : ''}, which no longer exists`,
        { port: p.id, server: p.deviceId, ...(p.hostId ? { host: p.hostId } : {}) },
        { does: `unbind port ${p.id} (device_id, host and binding:profile cleared)`, repair: { kind: 'unbind-port', portId: p.id } }));
      continue;
    }
    if (!server.portIds.includes(p.id)) {
      out.push(finding('port-owner-mismatch',
        `port ${p.id} names server ${server.uuid} as its device, but the server does not hold it`,
        { port: p.id, server: server.uuid }));
      continue;
    }
    const allowed = hostsOf(x, server);
    const fine = p.hostId === '' ? server.host === null : allowed.has(p.hostId);
    if (!fine) {
      out.push(finding('port-host-mismatch',
        `port ${p.id} of server ${server.uuid} is bound on ${p.hostId || 'no host'}, but the server is on ${server.host ?? 'no host'} (${server.vmState}, task ${server.taskState ?? 'none'})`,
        { port: p.id, server: server.uuid, port_host: p.hostId, server_host: server.host ?? '' }));
    }
  }
  // The other direction: every port a server holds names that server as its device.
  const portsById = new Map(s.ports.map((p) => [p.id, p]));
  for (const server of s.instances) {
    // Only settled servers: a task (attach, detach, delete) changes both sides in steps, and a
    // failed build may have let its ports go.
    if (server.taskState !== null || server.vmState === 'error' || server.vmState === 'deleted') continue;
    for (const portId of server.portIds) {
      const p = portsById.get(portId);
      if (!p) continue;
      if (p.deviceId !== server.uuid || !p.deviceOwner.startsWith('compute:')) {
        out.push(finding('server-port-owner-mismatch',
          `server ${server.uuid} holds port ${p.id}, but the port names ${p.deviceId ? `device ${p.deviceId}` : 'no device'} (owner '${p.deviceOwner}')`,
          { port: p.id, server: server.uuid }));
      }
    }
  }
  return out;
}
