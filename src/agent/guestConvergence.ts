import { interfacesOfXml, isRescueDomainXml } from '../domain/guest/domainXml.js';
import type { GuestInterface, GuestSpec } from '../domain/guest/spec.js';
import { rm } from 'node:fs/promises';
import type { ControllerLink, DesiredGuestState } from '../protocol/agentProtocol.js';
import { VirtDriverError, type GuestStatus, type VirtDriver } from './drivers/driver.js';

/*
 * Guest convergence: what the agent does to one guest so the hypervisor's
 * copy matches the controller's desired state. The ComputeAgent decides when
 * (its clock, work passes and retries); this file decides what.
 */

function macsOf(xml: string): string[] {
  return interfacesOfXml(xml).map((i) => i.mac);
}

/**
 * The guest's NICs as its domain XML describes them, so an unplug hands the
 * driver the interface that is really there (type, chardev or VF address),
 * not a guess. The port id is not in the XML; drivers match by MAC then.
 */
export function interfacesOfDomainXml(xml: string): GuestInterface[] {
  return interfacesOfXml(xml).map((i) => {
    const kind = i.type === 'vdpa' ? 'vdpa' : i.type === 'hostdev' ? 'hostdev' : 'ethernet';
    const iface: GuestInterface = { portId: '', macAddress: i.mac, kind };
    if (i.mtu !== undefined) iface.mtu = i.mtu;
    if (kind === 'vdpa' && i.sourceDev) iface.vdpaChardev = i.sourceDev;
    if (i.pciAddress !== undefined) iface.pciAddress = i.pciAddress;
    return iface;
  });
}

/** Where a snapshot's data goes: the controller's image API, for the image the snapshot instruction names. */
export type SnapshotUploader = Pick<ControllerLink, 'uploadSnapshot' | 'uploadDiskTransfer'>;

/** One idempotent step from whatever the guest is now to what it should be. */
export async function converge(
  d: VirtDriver, host: string, spec: GuestSpec, desired: DesiredGuestState, uploads?: SnapshotUploader,
): Promise<GuestStatus | null> {
  const reached = await convergeDefinition(d, host, spec, desired);
  // A snapshot is taken of the guest as it is once in its desired state (snapshot.ts),
  // and its data uploaded before the guest is reported: the report ends the snapshot.
  if (spec.snapshot && reached) {
    const { imageId } = spec.snapshot;
    const image = await supported(d, 'snapshot')(spec.uuid, imageId);
    if (image) {
      if (!uploads?.uploadSnapshot) throw new VirtDriverError(`Cannot upload the snapshot ${imageId} of ${spec.uuid}: this agent's controller link has no image upload`);
      await uploads.uploadSnapshot(host, spec.uuid, imageId, image.file);
      await rm(image.file, { force: true });
    }
    return (await d.status(spec.uuid)) ?? reached;
  }
  // A cold move's source (coldMoveDisk.ts): the guest is off, its disk goes to the controller before
  // the report, which lets the destination be instructed.
  if (spec.diskExport && desired === 'shutoff' && reached?.state === 'shutoff' && d.exportDisk) {
    const { migrationId } = spec.diskExport;
    const disk = await d.exportDisk(spec.uuid, migrationId);
    if (disk) {
      if (!uploads?.uploadDiskTransfer) throw new VirtDriverError(`Cannot upload the disk of ${spec.uuid}: this agent's controller link has no disk transfer`);
      await uploads.uploadDiskTransfer(host, spec.uuid, migrationId, disk.file);
      await rm(disk.file, { force: true });
    }
  }
  return reached;
}

/** The driver's optional operation, or the error a driver without it answers. */
function supported<K extends 'rebuild' | 'rescue' | 'unrescue' | 'snapshot'>(d: VirtDriver, op: K): NonNullable<VirtDriver[K]> {
  const fn = d[op];
  if (!fn) throw new VirtDriverError(`The ${d.name} driver does not support ${op}`);
  return fn.bind(d) as NonNullable<VirtDriver[K]>;
}

/**
 * Rebuild and rescue/unrescue first (lifecycle/rebuild.ts, rescue.ts): a guest
 * wanted running or stopped whose definition is of the other kind (rescue or
 * not), or that a rebuild names, is defined again from the spec; then the
 * state steps below.
 */
async function convergeDefinition(d: VirtDriver, host: string, spec: GuestSpec, desired: DesiredGuestState): Promise<GuestStatus | null> {
  if (desired === 'running' || desired === 'shutoff') {
    const current = await d.status(spec.uuid);
    if (current && spec.rebuild) await supported(d, 'rebuild')(spec);
    else if (current && spec.rescue && !isRescueDomainXml(current.domainXml)) await supported(d, 'rescue')(spec);
    else if (current && !spec.rescue && isRescueDomainXml(current.domainXml)) await supported(d, 'unrescue')(spec);
  }
  const reached = await convergeState(d, host, spec, desired);
  // A defined guest keeps only the resize backup its spec names (a confirm names none).
  if (reached) await d.settleResizeBackup?.(spec.uuid, spec.resizeBackup, 'settled');
  return reached;
}

async function convergeState(d: VirtDriver, host: string, spec: GuestSpec, desired: DesiredGuestState): Promise<GuestStatus | null> {
  const current = await d.status(spec.uuid);
  const state = current?.state ?? 'absent';
  switch (desired) {
    case 'absent':
      if (state !== 'absent') await d.destroy(spec.uuid, { keepDisks: spec.keepDisks === true });
      // A guest that left without a destroy here (migrated away) may have left its disk behind.
      else if (!spec.keepDisks) await d.cleanUp?.(spec.uuid);
      // Also when it was gone already: a step repeated after a restart between the destroy and this.
      if (spec.keepDisks) await d.settleResizeBackup?.(spec.uuid, spec.resizeBackup, 'definitionGone');
      return null;
    case 'running': {
      // A guest that is gone can only come back the hard way: defined from the spec and started.
      if (spec.reboot) return state === 'absent' ? d.spawn(spec) : d.reboot(spec, spec.reboot.type);
      const migration = spec.liveMigration;
      if (state === 'absent') {
        if (migration?.role === 'destination') await d.liveMigrationStep?.(spec.uuid, 'destination', migration.peer, spec);
        return d.spawn(spec);
      }
      if (state === 'suspended') return d.resume(spec.uuid, spec);
      if (state === 'shutoff') return syncInterfaces(d, spec, await d.powerOn(spec.uuid));
      if (state === 'paused') return syncInterfaces(d, spec, await d.unpause(spec.uuid));
      if (migration?.role === 'source') await d.liveMigrationStep?.(spec.uuid, 'source', migration.peer, spec);
      return syncInterfaces(d, spec, current!);
    }
    case 'suspended':
      if (state === 'absent') throw new Error(`guest ${spec.uuid} does not exist on ${host}`);
      if (state === 'suspended') return current;
      return d.suspend(spec.uuid);
    case 'shutoff':
      // Wanted stopped but unknown here (its definition was lost): defined again, stopped, from the spec.
      if (state === 'absent' && d.define) return d.define(spec);
      if (state === 'absent') throw new Error(`guest ${spec.uuid} does not exist on ${host}`);
      // A stopped guest's definition follows the spec too (interface attach/detach while SHUTOFF).
      if (state === 'shutoff') return syncInterfaces(d, spec, current!);
      return syncInterfaces(d, spec, await d.powerOff(spec.uuid));
    case 'paused':
      if (state === 'absent') throw new Error(`guest ${spec.uuid} does not exist on ${host}`);
      if (state === 'paused') return current;
      return d.pause(spec.uuid);
  }
}

/** Unplugs and hot-plugs interfaces so the guest (running or defined) has exactly the spec's NICs. */
async function syncInterfaces(driver: VirtDriver, spec: GuestSpec, status: GuestStatus): Promise<GuestStatus> {
  const want = new Map(spec.interfaces.map((i) => [i.macAddress.toLowerCase(), i]));
  let latest = status;
  // Unplug first: a device leaving frees what a device arriving may need.
  for (const gone of interfacesOfDomainXml(status.domainXml)) {
    if (!want.has(gone.macAddress)) latest = await driver.detachInterface(spec.uuid, gone);
  }
  const have = new Set(macsOf(latest.domainXml));
  for (const [mac, iface] of want) {
    if (!have.has(mac)) latest = await driver.attachInterface(spec.uuid, iface);
  }
  return latest;
}
