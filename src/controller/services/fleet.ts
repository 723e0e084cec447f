/**
 * The operator dashboard's picture of the fleet (GET os-vdpa-fleet): every
 * compute host with its service state and, per NIC (PF), its VFs and vDPA
 * devices with the server and port holding each. One storage read
 * (repositories/fleet.ts) whatever the number of hosts, so 1,000 hosts load
 * in one request.
 */
import { fromJson } from '../../storage/repositories/json.js';
import { readFleet, type FleetDeviceRow } from '../../storage/repositories/fleet.js';
import { serviceIsUp } from '../../storage/repositories/hosts.js';
import type { ControllerContext } from '../context.js';

/**
 * What a cell shows: the tracker's status, except that an allocated device
 * that vanished from its host is `missing` (it is never handed out again).
 */
export type FleetDeviceStatus = 'available' | 'claimed' | 'allocated' | 'unavailable' | 'removed' | 'missing';

export interface FleetDevice {
  address: string;
  dev_type: string;
  status: FleetDeviceStatus;
  physical_network: string | null;
  numa_node: number | null;
  vdpa_name: string | null;
  vdpa_chardev: string | null;
  server_id: string | null;
  server_name: string | null;
  /** The port bound to this device (binding:profile pci_slot), if any. */
  port_id: string | null;
}

export interface FleetNic extends FleetDevice {
  /** The PF's VFs and vDPA devices, by address. */
  functions: FleetDevice[];
}

export interface FleetHost {
  host: string;
  state: 'up' | 'down';
  status: 'enabled' | 'disabled';
  forced_down: boolean;
  disabled_reason: string | null;
  service_version: number | null;
  vdpa_unsupported_reason: string | null;
  hypervisor_type: string | null;
  host_ip: string | null;
  versions: Record<string, string>;
  /** NUMA cells are not reported by agents yet (the NFV work adds them): devices carry numa_node meanwhile. */
  numa_cells: null;
  nics: FleetNic[];
  /** Tracked devices without a tracked parent PF (type-PCI, or a VF whose PF no device_spec matched). */
  other_devices: FleetDevice[];
}

function deviceView(d: FleetDeviceRow, portBySlot: Map<string, string>): FleetDevice {
  return {
    address: d.address,
    dev_type: d.dev_type,
    status: d.missing === 1 ? 'missing' : (d.status as FleetDeviceStatus),
    physical_network: d.physical_network,
    numa_node: d.numa_node,
    vdpa_name: d.vdpa_name,
    vdpa_chardev: d.vdpa_chardev,
    server_id: d.instance_uuid,
    server_name: d.server_name,
    port_id: portBySlot.get(`${d.host} ${d.address}`) ?? null,
  };
}

/** The fleet (or one host, with `host`), hosts in name order. */
export async function fleetView(ctx: ControllerContext, host?: string): Promise<FleetHost[]> {
  const read = await readFleet(ctx.store.reader, host);
  const portBySlot = new Map<string, string>();
  for (const p of read.ports) {
    const slot = fromJson<Record<string, unknown>>(p.profile, {})['pci_slot'];
    if (typeof slot === 'string') portBySlot.set(`${p.host_id} ${slot}`, p.id);
  }
  const devicesByHost = new Map<string, FleetDeviceRow[]>();
  for (const d of read.devices) {
    const list = devicesByHost.get(d.host);
    if (list) list.push(d);
    else devicesByHost.set(d.host, [d]);
  }
  const serviceByHost = new Map(read.services.map((s) => [s.host, s]));
  const nodeByHost = new Map(read.nodes.map((n) => [n.host, n]));
  const names = [...new Set([...serviceByHost.keys(), ...nodeByHost.keys()])].sort(byHostName);
  return names.map((name) => {
    const s = serviceByHost.get(name);
    const n = nodeByHost.get(name);
    const rows = devicesByHost.get(name) ?? [];
    const nics = new Map<string, FleetNic>();
    for (const d of rows) if (d.dev_type === 'type-PF') nics.set(d.address, { ...deviceView(d, portBySlot), functions: [] });
    const other: FleetDevice[] = [];
    for (const d of rows) {
      if (d.dev_type === 'type-PF') continue;
      const nic = d.parent_addr !== null ? nics.get(d.parent_addr) : undefined;
      (nic ? nic.functions : other).push(deviceView(d, portBySlot));
    }
    return {
      host: name,
      state: s && serviceIsUp(s, ctx.config.service_down_time) ? 'up' : 'down',
      status: s?.disabled ? 'disabled' : 'enabled',
      forced_down: s?.forced_down === 1,
      disabled_reason: s?.disabled_reason ?? null,
      service_version: s?.version ?? null,
      vdpa_unsupported_reason: n?.vdpa_unsupported_reason ?? null,
      hypervisor_type: n?.hypervisor_type ?? null,
      host_ip: n?.host_ip ?? null,
      versions: fromJson<Record<string, string>>(n?.versions ?? null, {}),
      numa_cells: null,
      nics: [...nics.values()],
      other_devices: other,
    };
  });
}

/** compute-2 before compute-10: names compared with their numbers as numbers. */
const collator = new Intl.Collator('en', { numeric: true });
function byHostName(a: string, b: string): number {
  return collator.compare(a, b);
}
