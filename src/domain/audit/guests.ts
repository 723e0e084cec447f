/** Rule 5: a guest row is work for a host's agent about a server; a server that is gone has none. */
import { finding, type Finding } from './findings.js';
import type { SnapshotIndex } from './snapshotIndex.js';
import type { AuditSnapshot } from './snapshot.js';

export function guestFindings(s: AuditSnapshot, x: SnapshotIndex): Finding[] {
  return s.guests.filter((g) => !x.instances.has(g.instanceUuid)).map((g) => finding('guest-of-missing-server',
    `host ${g.host} has a guest record for server ${g.instanceUuid}, which no longer exists`,
    { server: g.instanceUuid, host: g.host },
    { does: `delete the guest record (a guest it still runs is destroyed by ${g.host}'s agent when it next starts)`, repair: { kind: 'delete-guest', instanceUuid: g.instanceUuid, host: g.host } }));
}
