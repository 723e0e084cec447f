import { guestDomainXml, guestInterfaceXml, type VirtType } from '../../domain/guest/domainXml.js';
import type { GuestInterface, GuestSpec } from '../../domain/guest/spec.js';
import { MAX_CONSOLE_BYTES, simulatedBootLog } from '../../domain/guest/consoleLog.js';
import { VirtDriverError, type GuestRunState, type GuestStatus, type ListedGuest, type VirtDriver } from './driver.js';

export interface SimulatedDriverOptions {
  hostName: string;
  /** The domain type written into the XML; default kvm. */
  virtType?: VirtType;
  /** The vhost-vdpa chardevs present on the host; null means "do not check". */
  availableChardevs?: () => Set<string> | null;
  /** A message makes spawn fail with it (fault injection); null lets it through. */
  failSpawnWith?: (spec: GuestSpec) => string | null;
  instancesPath?: string;
}

/** The libvirt error numbers (virErrorNumber) the simulator reports, as the real driver would. */
export const LibvirtErrorCode = {
  INTERNAL_ERROR: 1,
  SYSTEM_ERROR: 38,
  NO_DOMAIN: 42,
  OPERATION_INVALID: 55,
} as const;

export interface VdpaPlugEvent {
  op: 'plug' | 'unplug';
  chardev: string;
}

interface SimulatedGuest {
  state: Exclude<GuestRunState, 'absent'>;
  spec: GuestSpec;
  xml: string;
  /** The vDPA chardevs the live guest holds open right now. */
  pluggedVdpa: string[];
  /** Recent plug/unplug events, newest last (bounded). */
  vdpaEvents: VdpaPlugEvent[];
  /** How many times the guest OS was started (spawn, power on, either reboot): tests see a reboot happen. */
  boots: number;
  /** The newest rebuild carried out (GuestSpec.rebuild.id), so a repeated instruction is not done twice. */
  rebuiltBy?: string;
}

const MAX_EVENTS_PER_GUEST = 32;

/**
 * An in-memory hypervisor that behaves like libvirt's QEMU driver where
 * vDPA matters: a missing chardev fails the start with libvirt's own
 * message, a chardev can be open in only one guest, suspend unplugs the vDPA
 * NICs and resume plugs them back. Every operation is O(devices of the guest).
 */
export class SimulatedDriver implements VirtDriver {
  readonly name = 'simulated';
  readonly hostName: string;
  private readonly virtType: VirtType;
  private readonly guests = new Map<string, SimulatedGuest>();
  /** chardev → uuid of the guest holding it open. */
  private readonly chardevHolders = new Map<string, string>();
  /** Image ids of the snapshots taken. */
  private readonly snapshots = new Set<string>();

  constructor(private readonly options: SimulatedDriverOptions) {
    this.hostName = options.hostName;
    this.virtType = options.virtType ?? 'kvm';
  }

  async spawn(spec: GuestSpec): Promise<GuestStatus> {
    const xml = this.domainXml(spec);
    const existing = this.guests.get(spec.uuid);
    if (existing && existing.state === 'running' && existing.xml === xml) return statusOf(spec.uuid, existing);

    const failure = this.options.failSpawnWith?.(spec) ?? null;
    if (failure !== null) throw new VirtDriverError(failure, LibvirtErrorCode.INTERNAL_ERROR);
    const chardevs = vdpaChardevs(spec.interfaces);
    this.assertCanOpen(spec.uuid, chardevs);

    // Redefine and (re)start: whatever the guest held before is closed first.
    const guest: SimulatedGuest = existing ?? { state: 'shutoff', spec, xml, pluggedVdpa: [], vdpaEvents: [], boots: 0 };
    this.guests.set(spec.uuid, guest);
    return this.startAs(guest, spec, xml, chardevs);
  }

  async define(spec: GuestSpec): Promise<GuestStatus> {
    const existing = this.guests.get(spec.uuid);
    if (existing) return statusOf(spec.uuid, existing);
    // A stopped guest holds no vhost-vdpa fd: nothing to check or open.
    const guest: SimulatedGuest = { state: 'shutoff', spec: copySpec(spec), xml: this.domainXml(spec), pluggedVdpa: [], vdpaEvents: [], boots: 0 };
    this.guests.set(spec.uuid, guest);
    return statusOf(spec.uuid, guest);
  }

  async destroy(uuid: string): Promise<void> {
    const guest = this.guests.get(uuid);
    if (!guest) return;
    this.unplugAll(uuid, guest);
    this.guests.delete(uuid);
  }

  async powerOff(uuid: string): Promise<GuestStatus> {
    const guest = this.guest(uuid);
    // QEMU exiting closes every vhost-vdpa fd; a saved image is discarded.
    this.unplugAll(uuid, guest);
    guest.state = 'shutoff';
    return statusOf(uuid, guest);
  }

  async powerOn(uuid: string): Promise<GuestStatus> {
    const guest = this.guest(uuid);
    if (guest.state === 'running') return statusOf(uuid, guest);
    this.plugMissing(uuid, guest);
    guest.state = 'running';
    guest.boots += 1;
    return statusOf(uuid, guest);
  }

  /**
   * SOFT restarts the guest OS inside the same QEMU: its vhost-vdpa fds stay
   * open. HARD is destroy + define from `spec` + start: the fds close and the
   * spec's devices are opened again. Only a running guest reboots softly;
   * anything else goes the hard way (as libvirt's fallback does).
   */
  async reboot(spec: GuestSpec, type: 'SOFT' | 'HARD'): Promise<GuestStatus> {
    const guest = this.guests.get(spec.uuid);
    if (!guest) return this.spawn(spec);
    if (type === 'SOFT' && guest.state === 'running') {
      guest.boots += 1;
      return statusOf(spec.uuid, guest);
    }
    const xml = this.domainXml(spec);
    const chardevs = vdpaChardevs(spec.interfaces);
    // Checked before anything changes, so a failed hard reboot leaves the guest as it was.
    this.assertCanOpen(spec.uuid, chardevs);
    return this.startAs(guest, spec, xml, chardevs);
  }

  /** Whatever the guest held is closed, then it runs as `spec` with the spec's devices open (a boot). */
  private startAs(guest: SimulatedGuest, spec: GuestSpec, xml: string, chardevs: string[]): GuestStatus {
    this.unplugAll(spec.uuid, guest);
    guest.spec = copySpec(spec);
    guest.xml = xml;
    this.plug(spec.uuid, guest, chardevs);
    guest.state = 'running';
    guest.boots += 1;
    return statusOf(spec.uuid, guest);
  }

  /** vCPUs stop; QEMU and its vhost-vdpa fds stay (the devices stay plugged). */
  async pause(uuid: string): Promise<GuestStatus> {
    const guest = this.guest(uuid);
    if (guest.state === 'paused') return statusOf(uuid, guest);
    if (guest.state !== 'running') throw notRunning();
    guest.state = 'paused';
    return statusOf(uuid, guest);
  }

  async unpause(uuid: string): Promise<GuestStatus> {
    const guest = this.guest(uuid);
    if (guest.state === 'running') return statusOf(uuid, guest);
    if (guest.state !== 'paused') throw new VirtDriverError('Requested operation is not valid: domain is not paused', LibvirtErrorCode.OPERATION_INVALID);
    guest.state = 'running';
    return statusOf(uuid, guest);
  }

  /** The guest's serial console as a CirrOS guest would have written it, one boot per start. */
  async consoleLog(uuid: string): Promise<string> {
    const guest = this.guest(uuid);
    const log = simulatedBootLog(guest.spec, guest.boots);
    return log.length > MAX_CONSOLE_BYTES ? log.slice(-MAX_CONSOLE_BYTES) : log;
  }

  async suspend(uuid: string): Promise<GuestStatus> {
    const guest = this.guest(uuid);
    if (guest.state === 'suspended') return statusOf(uuid, guest);
    if (guest.state === 'shutoff') throw notRunning();
    // vDPA device state cannot be saved with guest memory: unplug first (behaviour.md, suspend).
    this.unplugAll(uuid, guest);
    guest.state = 'suspended';
    return statusOf(uuid, guest);
  }

  async resume(uuid: string, spec: GuestSpec): Promise<GuestStatus> {
    const guest = this.guest(uuid);
    if (spec.uuid !== uuid) throw new VirtDriverError(`Guest spec ${spec.uuid} given to resume guest ${uuid}`, LibvirtErrorCode.INTERNAL_ERROR);
    if (guest.state === 'shutoff') throw notRunning();
    const xml = this.domainXml(spec);
    const chardevs = vdpaChardevs(spec.interfaces);
    // Check before changing anything, so a failed resume can be retried as is.
    this.assertCanOpen(uuid, chardevs.filter((c) => !guest.pluggedVdpa.includes(c)));
    guest.spec = copySpec(spec);
    guest.xml = xml;
    // Restore guest memory, then plug the vDPA NICs back.
    guest.state = 'running';
    for (const chardev of guest.pluggedVdpa.filter((c) => !chardevs.includes(c))) this.unplugOne(uuid, guest, chardev);
    this.plug(uuid, guest, chardevs.filter((c) => !guest.pluggedVdpa.includes(c)));
    return statusOf(uuid, guest);
  }

  async attachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus> {
    guestInterfaceXml(iface); // refuses what libvirt would refuse, before any change
    const guest = this.guest(uuid);
    const index = guest.spec.interfaces.findIndex((i) => i.portId === iface.portId);
    const previous = index >= 0 ? guest.spec.interfaces[index]! : undefined;
    if (previous && sameInterface(previous, iface)) return statusOf(uuid, guest);

    const interfaces = [...guest.spec.interfaces];
    if (index >= 0) interfaces[index] = { ...iface };
    else interfaces.push({ ...iface });
    const spec = { ...guest.spec, interfaces };
    const xml = this.domainXml(spec);
    const live = guest.state === 'running' || guest.state === 'paused';
    const opening = live && iface.kind === 'vdpa' && iface.vdpaChardev !== previous?.vdpaChardev ? [iface.vdpaChardev!] : [];
    this.assertCanOpen(uuid, opening);

    if (previous?.kind === 'vdpa' && previous.vdpaChardev !== iface.vdpaChardev) this.unplugOne(uuid, guest, previous.vdpaChardev!);
    guest.spec = spec;
    guest.xml = xml;
    this.plug(uuid, guest, opening);
    return statusOf(uuid, guest);
  }

  async detachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus> {
    const guest = this.guests.get(uuid);
    if (!guest) return { uuid, state: 'absent', domainXml: '' };
    // By port; an interface read back from domain XML has no port id, only its MAC (as libvirt matches).
    const mac = iface.macAddress.toLowerCase();
    const index = iface.portId !== ''
      ? guest.spec.interfaces.findIndex((i) => i.portId === iface.portId)
      : guest.spec.interfaces.findIndex((i) => i.macAddress.toLowerCase() === mac);
    if (index < 0) return statusOf(uuid, guest);
    const removed = guest.spec.interfaces[index]!;
    const spec = { ...guest.spec, interfaces: guest.spec.interfaces.filter((_, i) => i !== index) };
    const xml = this.domainXml(spec);
    if (removed.kind === 'vdpa') this.unplugOne(uuid, guest, removed.vdpaChardev!);
    guest.spec = spec;
    guest.xml = xml;
    return statusOf(uuid, guest);
  }

  /** The guest is destroyed (its chardevs closed) and spawned again from the spec: the new image, the same NICs. */
  async rebuild(spec: GuestSpec): Promise<GuestStatus> {
    const existing = this.guests.get(spec.uuid);
    if (existing && spec.rebuild && existing.rebuiltBy === spec.rebuild.id) return statusOf(spec.uuid, existing);
    await this.destroy(spec.uuid);
    const status = await this.spawn(spec);
    this.guests.get(spec.uuid)!.rebuiltBy = spec.rebuild?.id;
    return status;
  }

  /** QEMU stops and starts again from the rescue definition (rescue disk first); the vDPA chardevs are reopened. */
  async rescue(spec: GuestSpec): Promise<GuestStatus> {
    this.guest(spec.uuid);
    return this.spawn(spec);
  }

  /** Back to the original definition: the rescue guest stops, the guest starts again with the same devices. */
  async unrescue(spec: GuestSpec): Promise<GuestStatus> {
    this.guest(spec.uuid);
    return this.spawn(spec);
  }

  /** Records the snapshot (the simulator has no disk to copy); taking the same one again changes nothing. */
  async snapshot(uuid: string, imageId: string): Promise<null> {
    this.guest(uuid);
    this.snapshots.add(imageId);
    return null;
  }

  /** Whether a snapshot of that image id was taken here. */
  hasSnapshot(imageId: string): boolean {
    return this.snapshots.has(imageId);
  }

  async status(uuid: string): Promise<GuestStatus | null> {
    const guest = this.guests.get(uuid);
    return guest ? statusOf(uuid, guest) : null;
  }

  /** Only the agent of this host defines guests here: all are owned. */
  async list(): Promise<ListedGuest[]> {
    return Array.from(this.guests, ([uuid, guest]) => ({ ...statusOf(uuid, guest), name: guest.spec.name, ownership: 'owned' as const }));
  }

  async close(): Promise<void> {}

  /** Source side of a hot-plug live migration: unplug the vDPA NICs, then the guest leaves this host. */
  async migrateOut(uuid: string): Promise<GuestSpec> {
    const guest = this.guest(uuid);
    if (guest.state !== 'running' && guest.state !== 'paused') throw notRunning();
    this.unplugAll(uuid, guest);
    this.guests.delete(uuid);
    return copySpec(guest.spec);
  }

  /** Destination side: the guest arrives and this host's vDPA devices are plugged in. */
  async migrateIn(spec: GuestSpec): Promise<GuestStatus> {
    return this.spawn(spec);
  }

  /** The vDPA chardevs the live guest holds open (empty while suspended or off). */
  pluggedVdpa(uuid: string): readonly string[] {
    return this.guests.get(uuid)?.pluggedVdpa ?? [];
  }

  /** Recent vDPA plug/unplug events of a guest, oldest first. */
  vdpaEvents(uuid: string): readonly VdpaPlugEvent[] {
    return this.guests.get(uuid)?.vdpaEvents ?? [];
  }

  /** How many times the guest OS started (0 for an unknown guest). */
  bootCount(uuid: string): number {
    return this.guests.get(uuid)?.boots ?? 0;
  }

  /** The guest holding a chardev open, if any. */
  holderOf(chardev: string): string | undefined {
    return this.chardevHolders.get(chardev);
  }

  get size(): number {
    return this.guests.size;
  }

  private domainXml(spec: GuestSpec): string {
    return guestDomainXml(spec, { virtType: this.virtType, instancesPath: this.options.instancesPath });
  }

  private guest(uuid: string): SimulatedGuest {
    const guest = this.guests.get(uuid);
    if (!guest) {
      throw new VirtDriverError(`Domain not found: no domain with matching uuid '${uuid}'`, LibvirtErrorCode.NO_DOMAIN);
    }
    return guest;
  }

  /** What QEMU's open() of /dev/vhost-vdpa-N would say, in libvirt's words. */
  private assertCanOpen(uuid: string, chardevs: readonly string[]): void {
    if (chardevs.length === 0) return;
    const present = this.options.availableChardevs?.() ?? null;
    for (const chardev of chardevs) {
      if (present && !present.has(chardev)) {
        throw new VirtDriverError(`Unable to open '${chardev}' for vdpa device: No such file or directory`, LibvirtErrorCode.SYSTEM_ERROR);
      }
      const holder = this.chardevHolders.get(chardev);
      if (holder !== undefined && holder !== uuid) {
        throw new VirtDriverError(`Unable to open '${chardev}' for vdpa device: Device or resource busy`, LibvirtErrorCode.SYSTEM_ERROR);
      }
    }
  }

  private plug(uuid: string, guest: SimulatedGuest, chardevs: readonly string[]): void {
    for (const chardev of chardevs) {
      this.chardevHolders.set(chardev, uuid);
      guest.pluggedVdpa.push(chardev);
      record(guest, 'plug', chardev);
    }
  }

  private plugMissing(uuid: string, guest: SimulatedGuest): void {
    const missing = vdpaChardevs(guest.spec.interfaces).filter((c) => !guest.pluggedVdpa.includes(c));
    this.assertCanOpen(uuid, missing);
    this.plug(uuid, guest, missing);
  }

  private unplugOne(uuid: string, guest: SimulatedGuest, chardev: string): void {
    const at = guest.pluggedVdpa.indexOf(chardev);
    if (at < 0) return;
    guest.pluggedVdpa.splice(at, 1);
    if (this.chardevHolders.get(chardev) === uuid) this.chardevHolders.delete(chardev);
    record(guest, 'unplug', chardev);
  }

  private unplugAll(uuid: string, guest: SimulatedGuest): void {
    for (const chardev of [...guest.pluggedVdpa]) this.unplugOne(uuid, guest, chardev);
  }
}

function statusOf(uuid: string, guest: SimulatedGuest): GuestStatus {
  return { uuid, state: guest.state, domainXml: guest.xml };
}

function vdpaChardevs(interfaces: readonly GuestInterface[]): string[] {
  const chardevs: string[] = [];
  for (const iface of interfaces) if (iface.kind === 'vdpa' && iface.vdpaChardev) chardevs.push(iface.vdpaChardev);
  return chardevs;
}

function record(guest: SimulatedGuest, op: VdpaPlugEvent['op'], chardev: string): void {
  guest.vdpaEvents.push({ op, chardev });
  if (guest.vdpaEvents.length > MAX_EVENTS_PER_GUEST) guest.vdpaEvents.shift();
}

function notRunning(): VirtDriverError {
  return new VirtDriverError('Requested operation is not valid: domain is not running', LibvirtErrorCode.OPERATION_INVALID);
}

function sameInterface(a: GuestInterface, b: GuestInterface): boolean {
  return a.kind === b.kind && a.macAddress === b.macAddress && a.vdpaChardev === b.vdpaChardev
    && a.pciAddress === b.pciAddress && a.mtu === b.mtu;
}

/** The caller may reuse its objects; the simulator keeps its own. */
function copySpec(spec: GuestSpec): GuestSpec {
  return { ...spec, interfaces: spec.interfaces.map((i) => ({ ...i })), hostdevs: spec.hostdevs.map((h) => ({ ...h })) };
}
