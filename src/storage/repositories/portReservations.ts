import { deferWrite } from '../pipelining.js';
import { precompiled } from '../precompiled.js';
import { nowIso } from './json.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/**
 * Marks a free port as belonging to a server. Conditional on the port being
 * free, so two servers created at once can never both take it: the one that
 * finds it taken fails with `taken()` (deferred: at the transaction's next
 * statement or its commit at the latest, see pipelining.ts).
 */
export async function reservePort(
  unit: Unit, portId: string, serverId: string, deviceOwner: string, taken: () => Error,
): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, reserveFreePort.compile(db, { portId, serverId, deviceOwner, now: nowIso() }), taken);
}

const reserveFreePort = precompiled<{ portId: string; serverId: string; deviceOwner: string; now: string }>((db, p) =>
  db.updateTable('ports')
    .set((eb) => ({ device_id: p.serverId, device_owner: p.deviceOwner, updated_at: p.now, revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', p.portId).where('device_id', '=', ''));

/** What creating a server checks about a port: who owns it, whether it is free, what device it needs. */
export interface PortForServer {
  id: string; projectId: string; deviceId: string; vnicType: string; physicalNetwork: string | null;
  numaAffinityPolicy: string | null;
}

/** Those columns of many ports in one query (not a full port record with its fixed IPs per port). */
export async function portsForServer(session: Session, ids: string[]): Promise<Map<string, PortForServer>> {
  const db = dbOf(session);
  if (ids.length === 0) return new Map();
  const rows = await db.selectFrom('ports').innerJoin('networks', 'networks.id', 'ports.network_id')
    .select(['ports.id as id', 'ports.project_id as project_id', 'ports.device_id as device_id', 'ports.vnic_type as vnic_type',
      'ports.numa_affinity_policy as numa_affinity_policy', 'networks.physical_network as physical_network'])
    .where('ports.id', 'in', ids).execute();
  return new Map(rows.map((r) => [r.id, {
    id: r.id, projectId: r.project_id, deviceId: r.device_id, vnicType: r.vnic_type, physicalNetwork: r.physical_network,
    numaAffinityPolicy: r.numa_affinity_policy,
  }]));
}
