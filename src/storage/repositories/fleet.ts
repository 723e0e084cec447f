import type { Selectable } from 'kysely';
import type { ComputeNodeTable, ServiceTable } from '../schema.js';
import type { Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';
import { COMPUTE_BINARY } from './hosts.js';

/** One tracked device with the server holding it, as the dashboard shows it. */
export interface FleetDeviceRow {
  host: string; address: string; dev_type: string; status: string; parent_addr: string | null;
  numa_node: number | null; physical_network: string | null; vdpa_name: string | null;
  vdpa_chardev: string | null; instance_uuid: string | null; missing: number;
  /** The holding server's name (null when free, or the server row is gone). */
  server_name: string | null;
}

/** A bound port's device: binding:host_id and binding:profile (JSON text, pci_slot inside). */
export interface FleetPortRow { id: string; host_id: string; device_id: string; profile: string }

export interface FleetRead {
  services: Selectable<ServiceTable>[];
  nodes: Selectable<ComputeNodeTable>[];
  devices: FleetDeviceRow[];
  ports: FleetPortRow[];
}

/**
 * Everything the dashboard's fleet and host views show, in four statements
 * whatever the number of hosts: compute services, compute nodes, every
 * tracked device with its server's name, and the ports bound on a host
 * (whose binding profile names the device). `host` narrows all four to one.
 */
export async function readFleet(session: Session, host?: string): Promise<FleetRead> {
  const db = dbOf(session);
  let services = db.selectFrom('services').selectAll().where('binary', '=', COMPUTE_BINARY).orderBy('host');
  let nodes = db.selectFrom('compute_nodes').selectAll().orderBy('host');
  let devices = db.selectFrom('pci_devices')
    .leftJoin('instances', 'instances.uuid', 'pci_devices.instance_uuid')
    .select([
      'pci_devices.host', 'pci_devices.address', 'pci_devices.dev_type', 'pci_devices.status', 'pci_devices.parent_addr',
      'pci_devices.numa_node', 'pci_devices.physical_network', 'pci_devices.vdpa_name', 'pci_devices.vdpa_chardev',
      'pci_devices.instance_uuid', 'pci_devices.missing', 'instances.name as server_name',
    ])
    .orderBy('pci_devices.host').orderBy('pci_devices.address');
  let ports = db.selectFrom('ports').select(['id', 'host_id', 'device_id', 'profile']).where('host_id', '!=', '');
  if (host !== undefined) {
    services = services.where('host', '=', host);
    nodes = nodes.where('host', '=', host);
    devices = devices.where('pci_devices.host', '=', host);
    ports = ports.where('host_id', '=', host);
  }
  const [s, n, d, p] = await Promise.all([services.execute(), nodes.execute(), devices.execute(), ports.execute()]);
  return { services: s, nodes: n, devices: d, ports: p };
}
