import type { AuditDevice, AuditInstance, AuditMigration, AuditPort, AuditSnapshot } from './snapshot.js';
import { migrationInProgress } from './migrationHolds.js';

/** Lookups over one snapshot, built once for all the rules. */
export interface SnapshotIndex {
  instances: Map<string, AuditInstance>;
  migrations: Map<string, AuditMigration>;
  /** `${host} ${address}` → device. */
  devices: Map<string, AuditDevice>;
  /** Consumer → the claimed or allocated devices it holds. */
  heldDevices: Map<string, AuditDevice[]>;
  /** Server uuid → the ports whose device_id names it. */
  portsOfServer: Map<string, AuditPort[]>;
  /** Server uuid → the hosts of its migrations in progress (where a move may legitimately put its claims and ports). */
  moveHosts: Map<string, Set<string>>;
}

export const inUse = (status: string): boolean => status === 'claimed' || status === 'allocated';

export const deviceKey = (host: string, address: string): string => `${host} ${address}`;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function indexSnapshot(s: AuditSnapshot): SnapshotIndex {
  const portsOfServer = new Map<string, AuditPort[]>();
  for (const p of s.ports) if (p.deviceId !== '') push(portsOfServer, p.deviceId, p);
  const heldDevices = new Map<string, AuditDevice[]>();
  for (const d of s.devices) if (inUse(d.status) && d.consumer !== null) push(heldDevices, d.consumer, d);
  const moveHosts = new Map<string, Set<string>>();
  for (const m of s.migrations) {
    if (!migrationInProgress(m)) continue;
    const hosts = moveHosts.get(m.instanceUuid) ?? new Set<string>();
    for (const h of [m.sourceCompute, m.destCompute]) if (h) hosts.add(h);
    moveHosts.set(m.instanceUuid, hosts);
  }
  return {
    instances: new Map(s.instances.map((i) => [i.uuid, i])),
    migrations: new Map(s.migrations.map((m) => [m.uuid, m])),
    devices: new Map(s.devices.map((d) => [deviceKey(d.host, d.address), d])),
    heldDevices,
    portsOfServer,
    moveHosts,
  };
}

/** The hosts a server's claims and port bindings may be on: its own, and while a task runs, its moves' too. */
export function hostsOf(x: SnapshotIndex, i: AuditInstance): Set<string> {
  const hosts = new Set<string>(i.host ? [i.host] : []);
  if (i.taskState !== null) for (const h of x.moveHosts.get(i.uuid) ?? []) hosts.add(h);
  return hosts;
}
