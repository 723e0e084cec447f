/**
 * Rule 2: a port bound to a server (device_owner compute:…) belongs to a
 * server that exists, and is bound on that server's host. While a task runs
 * the binding may be on a host of the server's move in progress (a cold move
 * binds the destination before the server moves there; a live migration
 * keeps the source until it ends). A server without a host (shelved
 * offloaded, not yet scheduled) keeps device_id on an unbound port.
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
    const allowed = hostsOf(x, server);
    const fine = p.hostId === '' ? server.host === null : allowed.has(p.hostId);
    if (!fine) {
      out.push(finding('port-host-mismatch',
        `port ${p.id} of server ${server.uuid} is bound on ${p.hostId || 'no host'}, but the server is on ${server.host ?? 'no host'} (${server.vmState}, task ${server.taskState ?? 'none'})`,
        { port: p.id, server: server.uuid, port_host: p.hostId, server_host: server.host ?? '' }));
    }
  }
  return out;
}
