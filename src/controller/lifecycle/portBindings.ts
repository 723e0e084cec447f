import type { HostDevice } from '../../domain/pci/device.js';
import type { ClaimedDevice } from '../../storage/repositories/claims.js';
import { deletePortRow, getPorts, bindPort, unbindPort, type PortRecord } from '../../storage/repositories/ports.js';
import { nowTimestamp } from '../../storage/repositories/networks.js';
import { devicesOfConsumer } from '../../storage/repositories/pciDevices.js';
import { setDesiredGuest } from '../../storage/repositories/guests.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import { bindingProfileFor, buildGuestSpec, VIF_DETAILS_OVS } from '../services/guestSpecs.js';
import type { Unit, Session } from '../../storage/unit.js';
import type { NumaPlacement } from '../../domain/numa/fit.js';
import { numaPlacementOf } from '../../storage/repositories/numa.js';
import { numaRequestFor } from './resources.js';

/** Which claimed device serves which port (port requests are named `port-<id>`). */
export function devicesByPort(claimed: ClaimedDevice[]): Map<string, HostDevice> {
  const out = new Map<string, HostDevice>();
  for (const c of claimed) {
    if (c.requestId.startsWith('port-')) out.set(c.requestId.slice(5), c.device);
  }
  return out;
}

/** The same mapping for devices already held, read back through the ports' binding profiles. */
export async function heldDevicesByPort(db: Session, consumer: string, ports: PortRecord[], host: string): Promise<{ byPort: Map<string, HostDevice>; aliasDevices: HostDevice[] }> {
  const held = (await devicesOfConsumer(db, consumer)).filter((d) => d.host === host);
  const byAddress = new Map(held.map((d) => [d.address, d]));
  const byPort = new Map<string, HostDevice>();
  for (const p of ports) {
    const slot = p.profile['pci_slot'];
    if (typeof slot === 'string' && byAddress.has(slot)) {
      byPort.set(p.id, byAddress.get(slot)!);
      byAddress.delete(slot);
    }
  }
  return { byPort, aliasDevices: [...byAddress.values()] };
}

/**
 * Binds the instance's ports to the host and returns them as bound. The ports
 * are read once: the bound records are the read ones with the columns bindPort
 * wrote (a second read in the same transaction would return exactly that).
 */
export async function bindInstancePorts(
  trx: Unit, instance: InstanceRecord, host: string, byPort: Map<string, HostDevice>, status = 'DOWN',
  /** The instance's ports as read in this transaction already, if they were. */
  read?: PortRecord[],
): Promise<PortRecord[]> {
  const ports = read ?? await getPorts(trx, instance.portIds);
  const bound: PortRecord[] = [];
  for (const port of ports) {
    const profile = bindingProfileFor(byPort.get(port.id));
    const binding = {
      hostId: host, deviceId: instance.uuid, deviceOwner: `compute:${instance.availabilityZone}`,
      profile, vifType: 'ovs', vifDetails: { ...VIF_DETAILS_OVS }, status,
    };
    await bindPort(trx, port.id, binding);
    bound.push({
      ...port, ...binding,
      // As read back: JSON round trips, not the objects handed to bindPort.
      profile: JSON.parse(JSON.stringify(profile)) as Record<string, unknown>,
      vifDetails: JSON.parse(JSON.stringify(binding.vifDetails)) as Record<string, unknown>,
      revisionNumber: port.revisionNumber + 1, updatedAt: nowTimestamp(),
    });
  }
  return bound;
}

export async function unbindInstancePorts(trx: Unit, instance: InstanceRecord, opts: { keepDeviceId?: boolean } = {}): Promise<void> {
  const ports = await getPorts(trx, instance.portIds);
  for (const port of ports) {
    // A port someone else took meanwhile is theirs now.
    if (port.deviceId !== '' && port.deviceId !== instance.uuid) continue;
    await unbindPort(trx, port.id, opts);
  }
}

/** Ports the compute API made for the server (`networks: [{uuid}]`) go with it, as Nova deletes the ports it created. */
export async function deletePortsCreatedFor(trx: Unit, instance: InstanceRecord): Promise<void> {
  for (const port of await getPorts(trx, instance.createdPortIds)) {
    if (port.deviceId === '' || port.deviceId === instance.uuid) await deletePortRow(trx, port.id);
  }
}

/** Binds the server's ports to the devices claimed on `host` and tells that host's agent to run the guest. */
export async function bindAndRunGuest(
  trx: Unit, instance: InstanceRecord, host: string, claimed: ClaimedDevice[], read?: PortRecord[],
): Promise<void> {
  const byPort = devicesByPort(claimed);
  const aliasDevices = claimed.filter((c) => !c.requestId.startsWith('port-')).map((c) => c.device);
  const ports = await bindInstancePorts(trx, instance, host, byPort, 'DOWN', read);
  const numa = await guestNumaPlacement(trx, instance, host);
  await setDesiredGuest(trx, instance.uuid, host, 'running', buildGuestSpec(instance, ports, byPort, aliasDevices, instance.flavor, numa));
}

/**
 * Where the server's guest is pinned on `host` (its claim there, under the
 * instance's own uuid), or null; read only for a flavor or image asking for
 * a NUMA topology, so plain guests cost no read.
 */
export async function guestNumaPlacement(session: Session, instance: InstanceRecord, host: string, flavor = instance.flavor): Promise<NumaPlacement | null> {
  if (!numaRequestFor(flavor, instance.pciRequests, instance.imageProperties)) return null;
  return numaPlacementOf(session, instance.uuid, host);
}
