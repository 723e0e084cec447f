import type { GuestSpec } from '../../domain/guest/spec.js';
import type { HostDevice } from '../../domain/pci/device.js';
import { servesRequest } from '../../domain/pci/match.js';
import { requestForPort, requestsForFlavor, type PciRequest } from '../../domain/pci/request.js';
import type { PciAliasConfig } from '../../config.js';
import type { FlavorSnapshot, InstanceRecord } from '../../storage/repositories/instances.js';
import { devicesOfConsumer } from '../../storage/repositories/pciDevices.js';
import type { PortRecord } from '../../storage/repositories/ports.js';
import type { Session } from '../../storage/unit.js';

/** The PCI requests of a server with another flavor: its ports' requests stay, the flavor's aliases change. */
export function pciRequestsWithFlavor(instance: InstanceRecord, flavor: FlavorSnapshot, aliases: PciAliasConfig[]): PciRequest[] {
  return [
    ...instance.pciRequests.filter((r) => r.source.kind === 'port'),
    ...requestsForFlavor(flavor.extra_specs, aliases),
  ];
}

/**
 * Which of the devices `holder` has on `host` serves which port, for giving a
 * server its source devices back. The source guest's old definition says it
 * exactly (same chardev / address); ports it does not cover (a same-host
 * resize redefined that guest) get any held device their request accepts.
 */
export async function heldDevicesForPorts(
  db: Session, holder: string, host: string, ports: PortRecord[], oldSpec: GuestSpec | null,
): Promise<{ byPort: Map<string, HostDevice>; aliasDevices: HostDevice[] }> {
  const free = (await devicesOfConsumer(db, holder)).filter((d) => d.host === host);
  const byPort = new Map<string, HostDevice>();
  const take = (pred: (d: HostDevice) => boolean): HostDevice | undefined => {
    const i = free.findIndex(pred);
    return i < 0 ? undefined : free.splice(i, 1)[0];
  };
  for (const iface of oldSpec?.interfaces ?? []) {
    if (!ports.some((p) => p.id === iface.portId)) continue;
    const d = iface.kind === 'vdpa' ? take((x) => x.vdpaChardev === iface.vdpaChardev)
      : iface.kind === 'hostdev' ? take((x) => x.address === iface.pciAddress) : undefined;
    if (d) byPort.set(iface.portId, d);
  }
  for (const port of ports) {
    if (byPort.has(port.id)) continue;
    const request = requestForPort(port);
    if (!request) continue;
    const d = take((x) => servesRequest(x, request.spec));
    if (d) byPort.set(port.id, d);
  }
  return { byPort, aliasDevices: free };
}

/** Kept here too: other lifecycle modules import it from this file. */
export { swapMoveClaims } from './coldMoveClaims.js';
