/**
 * The VirtDriver on a real libvirt, through our own addon (connection.ts).
 *
 * What libvirt refuses is never imitated here: libvirt's message reaches the
 * caller unchanged as a VirtDriverError. In particular libvirt 9.0's test
 * driver (test:///) has no live attach/detach and no migration, so suspend of
 * a guest with vDPA NICs and every attach/detach fail there with libvirt's
 * "this function is not supported by the connection driver: ..." message.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_INSTANCES_PATH, RESCUE_DISK, guestDomainXml, guestInterfaceXml, type VirtType } from '../../../domain/guest/domainXml.js';
import {
  OWNERSHIP_NAMESPACE, OWNERSHIP_PREFIX, classifyDomain, ownershipElementXml, ownershipFor, ownershipOfXml,
} from '../../../domain/guest/ownership.js';
import type { GuestInterface, GuestSpec, LiveMigrationRole, ResizeBackupRequest } from '../../../domain/guest/spec.js';
import {
  VirtDriverError, type GuestRunState, type GuestStatus, type ListedGuest, type MigrateOptions, type SnapshotImage, type VirtDriver,
} from '../driver.js';
import {
  DomainState, ErrorCode, Flags, formatVersion, isLibvirtError, openLibvirt,
  type LibvirtConnection, type MigrateParams, type NamedDomain,
} from './connection.js';
import { hasInterface, interfacesOf } from './domainInterfaces.js';
import {
  ensureInstanceDir, ensureInstanceDisk, flattenDisk, importInstanceDisk, instanceDiskPath, removeInstanceDir, removeInstanceDisk,
} from './instanceDisks.js';
import type { ImageCache } from '../../imageCache.js';
import { readConsoleLog } from './consoleLogFile.js';
import { settleResizeBackups } from './resizeBackups.js';

export interface LibvirtDriverOptions {
  /** e.g. `qemu:///system`, or `test:///abs/path/host.xml` for libvirt's test driver. */
  uri: string;
  /**
   * The compute host this driver's agent is (its --host; default this
   * machine's hostname, as the agent's). Every domain defined here names it in
   * its ownership metadata, and list() calls only this host's domains owned.
   */
  hostName?: string;
  virtType?: VirtType;
  instancesPath?: string;
  /** Whether domains get a disk (guestDomainXml's default: yes for kvm and qemu). */
  includeDisk?: boolean;
  /** Machine type for kvm and qemu guests (guestDomainXml's default: q35). */
  machine?: string;
  /**
   * Where a guest's disk comes from: its image, fetched once into this cache,
   * under a qcow2 overlay per instance (instanceDisks.ts). Without it a guest
   * with a disk cannot be built here.
   */
  images?: ImageCache;
  /** This host's address as the controller records it (--host-ip): where peers reach its libvirtd. */
  hostAddress?: string;
  /** How to reach a host's libvirtd for live migration, `%s` its address (Nova's live_migration_uri). */
  liveMigrationUri?: string;
  /**
   * Where a cold move's disk comes from (spec.diskImport): the controller's
   * transfer blob, streamed into `file` (HttpControllerLink.downloadDiskTransfer
   * for this host).
   */
  diskTransfers?: { download(instanceUuid: string, migrationUuid: string, file: string): Promise<void> };
}

export const DEFAULT_LIVE_MIGRATION_URI = 'qemu+tcp://%s/system';

/** kvm where /dev/kvm exists, TCG (qemu) where it does not, test for test:// URIs. */
export function defaultVirtType(uri: string): VirtType {
  if (/^test(\+\w+)?:/.test(uri)) return 'test';
  return existsSync('/dev/kvm') ? 'kvm' : 'qemu';
}

export class LibvirtDriver implements VirtDriver {
  readonly name = 'libvirt';
  readonly virtType: VirtType;
  readonly hostName: string;
  private conn?: Promise<LibvirtConnection>;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: LibvirtDriverOptions) {
    this.virtType = opts.virtType ?? defaultVirtType(opts.uri);
    this.hostName = opts.hostName ?? hostname();
  }

  /** The driver's one connection, opened on first use; the test driver's state lives as long as it. */
  connection(): Promise<LibvirtConnection> {
    if (!this.conn) {
      this.conn = libvirt(() => openLibvirt(this.opts.uri));
      this.conn.catch(() => { this.conn = undefined; });
    }
    return this.conn;
  }


  spawn(spec: GuestSpec): Promise<GuestStatus> {
    return this.serial(spec.uuid, async (c) => {
      const xml = await this.definitionOf(c, spec);
      await this.ensureDisk(spec);
      // Defining a defined guest redefines it; a running guest keeps running.
      await libvirt(() => c.defineXML(xml, Flags.DEFINE_VALIDATE));
      const { state } = await libvirt(() => c.getState(spec.name));
      if (state === DomainState.PAUSED) await libvirt(() => c.resume(spec.name));
      else if (!isActive(state)) await libvirt(() => c.create(spec.name));
      return this.statusOf(c, spec.name, spec.uuid);
    });
  }

  define(spec: GuestSpec): Promise<GuestStatus> {
    return this.serial(spec.uuid, async (c) => {
      const existing = await this.find(c, spec.uuid);
      if (!existing) {
        const xml = this.domainXml(spec, new Date());
        await this.ensureDisk(spec);
        await libvirt(() => c.defineXML(xml, Flags.DEFINE_VALIDATE));
      }
      return this.statusOf(c, spec.name, spec.uuid);
    });
  }

  destroy(uuid: string, opts: { keepDisks?: boolean } = {}): Promise<void> {
    return this.serial(uuid, async (c) => {
      const dom = await this.find(c, uuid);
      if (dom) {
        await ignoring([ErrorCode.OPERATION_INVALID, ErrorCode.NO_DOMAIN], async () => {
          if (isActive((await c.getState(dom.name)).state)) await c.destroy(dom.name);
        });
        await ignoring([ErrorCode.NO_DOMAIN], () => c.undefine(dom.name, Flags.UNDEFINE_MANAGED_SAVE));
      }
      // The disk goes with the instance (also when an earlier delete removed only the domain),
      // unless the guest is defined again here next (a same-host resize keeps its disk).
      if (this.usesInstanceDir && !opts.keepDisks) await removeInstanceDir(this.instancesPath, uuid);
    });
  }

  /**
   * The instance's resize backup (resizeBackups.ts) as the spec asks. Made
   * or restored only with the definition gone, which is checked: a disk a
   * defined guest may use is never replaced under it.
   */
  settleResizeBackup(uuid: string, wanted: ResizeBackupRequest | undefined, moment: 'definitionGone' | 'settled'): Promise<void> {
    return this.serial(uuid, async (c) => {
      if (!this.includesDisk) return;
      if (moment === 'definitionGone' && (await this.find(c, uuid))) {
        throw new VirtDriverError(`Cannot settle the resize backup of ${uuid} as if its definition were gone: it is defined`, ErrorCode.OPERATION_INVALID);
      }
      await settleResizeBackups(this.instancesPath, uuid, wanted, moment);
    });
  }

  cleanUp(uuid: string): Promise<void> {
    return this.serial(uuid, async (c) => {
      if (this.usesInstanceDir && !(await this.find(c, uuid))) await removeInstanceDir(this.instancesPath, uuid);
    });
  }

  powerOff(uuid: string): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const { state } = await libvirt(() => c.getState(dom.name));
      if (isActive(state)) await ignoring([ErrorCode.OPERATION_INVALID], () => c.destroy(dom.name));
      return this.statusOf(c, dom.name, uuid);
    });
  }

  powerOn(uuid: string): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const { state } = await libvirt(() => c.getState(dom.name));
      if (state === DomainState.PAUSED) await libvirt(() => c.resume(dom.name));
      else if (!isActive(state)) await libvirt(() => c.create(dom.name));
      return this.statusOf(c, dom.name, uuid);
    });
  }

  /**
   * SOFT: virDomainReboot of the running guest (same QEMU, same vDPA fds);
   * when libvirt refuses it, or the guest is not running, the hard way, as
   * Nova's libvirt driver falls back. HARD: destroy, undefine (dropping a
   * managed save, which a start would otherwise restore), define from the
   * spec (the same vDPA chardevs) and start.
   */
  reboot(spec: GuestSpec, type: 'SOFT' | 'HARD'): Promise<GuestStatus> {
    return this.serial(spec.uuid, async (c) => {
      const dom = await this.find(c, spec.uuid);
      if (dom && type === 'SOFT') {
        const { state } = await libvirt(() => c.getState(dom.name));
        if (state === DomainState.RUNNING || state === DomainState.BLOCKED) {
          const rebooted = await libvirt(() => c.reboot(dom.name)).then(() => true, () => false);
          if (rebooted) return this.statusOf(c, dom.name, spec.uuid);
        }
      }
      const xml = await this.definitionOf(c, spec, dom);
      if (dom) {
        await ignoring([ErrorCode.OPERATION_INVALID, ErrorCode.NO_DOMAIN], async () => {
          if (isActive((await c.getState(dom.name)).state)) await c.destroy(dom.name);
        });
        await ignoring([ErrorCode.NO_DOMAIN], () => c.undefine(dom.name, Flags.UNDEFINE_MANAGED_SAVE));
      }
      await libvirt(() => c.defineXML(xml, Flags.DEFINE_VALIDATE));
      await libvirt(() => c.create(spec.name));
      return this.statusOf(c, spec.name, spec.uuid);
    });
  }

  /** virDomainSuspend: the vCPUs stop; QEMU keeps the vDPA devices open. */
  pause(uuid: string): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const before = await this.statusOf(c, dom.name, uuid);
      if (before.state === 'paused') return before;
      if (before.state !== 'running') {
        throw new VirtDriverError(`Cannot pause guest ${uuid}: it is ${before.state}`, ErrorCode.OPERATION_INVALID);
      }
      await libvirt(() => c.suspend(dom.name));
      return this.statusOf(c, dom.name, uuid);
    });
  }

  /** virDomainResume of a paused guest. */
  unpause(uuid: string): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const { state } = await libvirt(() => c.getState(dom.name));
      if (state === DomainState.PAUSED) await libvirt(() => c.resume(dom.name));
      else if (state !== DomainState.RUNNING && state !== DomainState.BLOCKED) {
        throw new VirtDriverError(`Cannot unpause guest ${uuid}: it is not paused`, ErrorCode.OPERATION_INVALID);
      }
      return this.statusOf(c, dom.name, uuid);
    });
  }

  /** Unplugs the vDPA NICs from the running guest, then saves its memory (managed save). */
  suspend(uuid: string): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const before = await this.statusOf(c, dom.name, uuid);
      if (before.state === 'suspended') return before;
      if (before.state !== 'running' && before.state !== 'paused') {
        throw new VirtDriverError(`Cannot suspend guest ${uuid}: it is ${before.state}`, ErrorCode.OPERATION_INVALID);
      }
      await withVdpaUnplugged(c, dom.name, before.domainXml, () => libvirt(() => c.managedSave(dom.name)));
      return this.statusOf(c, dom.name, uuid);
    });
  }

  /** Starts the guest from its managed save, then plugs its vDPA NICs back. */
  resume(uuid: string, spec: GuestSpec): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const { state } = await libvirt(() => c.getState(dom.name));
      if (state === DomainState.PAUSED) await libvirt(() => c.resume(dom.name));
      else if (!isActive(state)) await libvirt(() => c.create(dom.name));
      const live = await libvirt(() => c.getXMLDesc(dom.name, 0));
      for (const iface of spec.interfaces.filter((i) => i.kind === 'vdpa')) {
        if (hasInterface(live, iface.macAddress)) continue;
        const xml = guestInterfaceXml(iface);
        await libvirt(() => c.attachDevice(dom.name, xml, Flags.AFFECT_LIVE));
      }
      return this.statusOf(c, dom.name, uuid);
    });
  }

  attachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const xml = guestInterfaceXml(iface);
      const dom = await this.require(c, uuid);
      const where = await this.presence(c, dom.name, iface.macAddress);
      const flags = (where.active && !where.live ? Flags.AFFECT_LIVE : 0) | (!where.config ? Flags.AFFECT_CONFIG : 0);
      if (flags) await libvirt(() => c.attachDevice(dom.name, xml, flags));
      return this.statusOf(c, dom.name, uuid);
    });
  }

  detachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus> {
    return this.serial(uuid, async (c) => {
      const xml = guestInterfaceXml(iface);
      const dom = await this.require(c, uuid);
      const where = await this.presence(c, dom.name, iface.macAddress);
      const flags = (where.active && where.live ? Flags.AFFECT_LIVE : 0) | (where.config ? Flags.AFFECT_CONFIG : 0);
      if (flags) await libvirt(() => c.detachDevice(dom.name, xml, flags));
      return this.statusOf(c, dom.name, uuid);
    });
  }

  /**
   * Nova's libvirt rebuild: the guest is destroyed, defined again from the
   * spec (the new image; the same vDPA chardevs and VFs) and started. The
   * disk's contents are the image backend's business; the definition keeps
   * the same disk path, so the domain XML is the one it had.
   */
  rebuild(spec: GuestSpec): Promise<GuestStatus> {
    // With image-backed disks: the old overlay goes, a new one on the new image comes.
    return this.redefineAndStart(spec, async () => {
      if (!this.includesDisk) return;
      await removeInstanceDisk(this.instancesPath, spec.uuid);
      // A rebuild starts from the image, never from a move's disk.
      await this.ensureDisk({ ...spec, diskImport: undefined });
    });
  }

  /** Rescue: stop the guest, define its rescue domain (disk.rescue boots, the disk second, same NICs), start it. */
  rescue(spec: GuestSpec): Promise<GuestStatus> {
    // With image-backed disks: disk.rescue is an overlay on the rescue image.
    return this.redefineAndStart(spec, async () => {
      if (!this.includesDisk || !spec.rescue || !this.opts.images) return;
      const base = await this.opts.images.ensure(spec.rescue.imageRef);
      await ensureInstanceDisk(this.instancesPath, spec.uuid, 0, base, RESCUE_DISK);
    });
  }

  /** Unrescue: stop the rescue guest, define the original domain again from the spec, start it. */
  unrescue(spec: GuestSpec): Promise<GuestStatus> {
    return this.redefineAndStart(spec, async () => {
      if (this.includesDisk) await removeInstanceDisk(this.instancesPath, spec.uuid, RESCUE_DISK);
    });
  }

  /**
   * A snapshot of the guest's disk as a standalone image file,
   * `<instancesPath>/snapshots/<imageId>`: the overlay and the cached image it
   * rests on flattened into one file by `qemu-img convert`, in the format of
   * that image (Nova's snapshot_image_format default), so the uploaded image
   * needs no backing file. A running or paused guest is saved first (managed
   * save, its vDPA NICs unplugged) so the disk is consistent, and restored
   * after with its NICs plugged back: Nova's cold snapshot. A guest without a
   * disk file (libvirt's test driver) has nothing to copy: null.
   */
  snapshot(uuid: string, imageId: string): Promise<SnapshotImage | null> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const xml = await libvirt(() => c.getXMLDesc(dom.name, Flags.XML_INACTIVE));
      const disk = /<disk[^>]*device=['"]disk['"][\s\S]*?<source file=['"]([^'"]+)['"]/.exec(xml)?.[1];
      const target = join(this.instancesPath, 'snapshots', imageId);
      if (!disk || !existsSync(disk)) return null;
      if (existsSync(target)) return { file: target };
      const { state } = await libvirt(() => c.getState(dom.name));
      const live = isActive(state) ? await libvirt(() => c.getXMLDesc(dom.name, 0)) : null;
      if (live) await withVdpaUnplugged(c, dom.name, live, () => libvirt(() => c.managedSave(dom.name)));
      try {
        await mkdir(dirname(target), { recursive: true });
        await flattenDisk(disk, target);
      } finally {
        if (live) {
          // virDomainCreate restores the managed save, running or paused as the guest was.
          await libvirt(() => c.create(dom.name));
          for (const iface of interfacesOf(live).filter((i) => i.type === 'vdpa' && i.sourceDev)) {
            const nic = vdpaInterfaceXml(iface.mac, iface.sourceDev!);
            await libvirt(() => c.attachDevice(dom.name, nic, Flags.AFFECT_LIVE));
          }
        }
      }
      return { file: target };
    });
  }

  /**
   * A cold move's disk (spec.diskExport on the source, the guest off):
   * `<instancesPath>/transfers/<migration>`, the overlay and its base image
   * flattened into one standalone qcow2 (`qemu-img convert`), which needs
   * nothing on the destination but itself. Made once per migration (written
   * as `.part`, renamed when complete). The instance's own disk stays, for a
   * revert. A guest without a disk file (libvirt's test driver): null.
   */
  exportDisk(uuid: string, migrationUuid: string): Promise<SnapshotImage | null> {
    return this.serial(uuid, async (c) => {
      if (!this.includesDisk) return null;
      const dom = await this.require(c, uuid);
      if (isActive((await libvirt(() => c.getState(dom.name))).state)) {
        throw new VirtDriverError(`Cannot take the disk of ${uuid} for migration ${migrationUuid}: the guest is not shut off`, ErrorCode.OPERATION_INVALID);
      }
      const disk = instanceDiskPath(this.instancesPath, uuid);
      if (!existsSync(disk)) return null;
      const target = join(this.instancesPath, 'transfers', migrationUuid);
      if (existsSync(target)) return { file: target };
      await mkdir(dirname(target), { recursive: true });
      await flattenDisk(disk, target, 'qcow2');
      return { file: target };
    });
  }

  /** Stops the guest, prepares its disks while it is off (`disks`), defines it from the spec and starts it. */
  private redefineAndStart(spec: GuestSpec, disks: () => Promise<void> = async () => {}): Promise<GuestStatus> {
    return this.serial(spec.uuid, async (c) => {
      const dom = await this.require(c, spec.uuid);
      const xml = await this.definitionOf(c, spec, dom);
      await ignoring([ErrorCode.OPERATION_INVALID], async () => {
        if (isActive((await c.getState(dom.name)).state)) await c.destroy(dom.name);
      });
      await disks();
      await libvirt(() => c.defineXML(xml, Flags.DEFINE_VALIDATE));
      await libvirt(() => c.create(spec.name));
      return this.statusOf(c, spec.name, spec.uuid);
    });
  }

  /**
   * Hot-plug live migration through libvirt (peer to peer): the vDPA NICs are
   * unplugged, the guest moves with migrateToURI3, and the destination's agent
   * plugs in the devices claimed there. A failed move plugs the NICs back, so
   * the guest keeps running here with its original devices.
   */
  migrate(uuid: string, destinationUri: string, o: MigrateOptions = {}): Promise<void> {
    return this.serial(uuid, async (c) => {
      const dom = await this.require(c, uuid);
      const live = await libvirt(() => c.getXMLDesc(dom.name, 0));
      const params: MigrateParams = {
        ...(o.destXml ? { destXml: o.destXml } : {}), ...(o.persistXml ? { persistXml: o.persistXml } : {}),
        ...(o.migrateUri ? { uri: o.migrateUri } : {}),
      };
      const flags = Flags.MIGRATE_LIVE | Flags.MIGRATE_PEER2PEER | Flags.MIGRATE_PERSIST_DEST | Flags.MIGRATE_UNDEFINE_SOURCE
        | (o.copyStorage ? Flags.MIGRATE_NON_SHARED_INC : 0);
      await withVdpaUnplugged(c, dom.name, live, () => libvirt(() => c.migrateToURI3(dom.name, destinationUri, params, flags)));
    });
  }

  /**
   * The destination's side of a live migration (the source has unplugged its
   * vDPA NICs already): the guest's disk is made here (an overlay on the
   * same image, fetched into this host's cache), then the guest is pulled
   * from the source's libvirtd with `migrate` on a connection to it, peer to
   * peer, as `destXml` (this host's paths, the devices the guest has now) and
   * `persistXml` (the full definition, with this host's vDPA devices), and
   * this host's vDPA NICs are plugged in. A guest that already runs here (a
   * repeated step) is left as it is. The source does nothing of its own.
   */
  liveMigrationStep(uuid: string, role: LiveMigrationRole, peer: string, spec?: GuestSpec): Promise<void> {
    if (role !== 'destination' || !spec) return Promise.resolve();
    return this.serial(uuid, async (c) => {
      const here = await this.find(c, uuid);
      if (here && isActive((await libvirt(() => c.getState(here.name))).state)) return;
      const peerAddress = spec.liveMigration?.peerAddress;
      if (!peerAddress) throw new VirtDriverError(`Cannot migrate ${uuid} from ${peer}: the controller knows no address of ${peer}`);
      if (!this.opts.hostAddress) throw new VirtDriverError(`Cannot migrate ${uuid} here: this host's address (--host-ip) is not known to the driver`);
      await this.ensureDisk(spec);
      const moving: GuestSpec = { ...spec, interfaces: spec.interfaces.filter((i) => i.kind !== 'vdpa' && i.kind !== 'hostdev') };
      const source = new LibvirtDriver({ uri: this.libvirtUriOf(peerAddress), virtType: this.virtType });
      try {
        await source.migrate(uuid, this.libvirtUriOf(this.opts.hostAddress), {
          destXml: this.domainXml(moving, new Date()), persistXml: this.domainXml(spec, new Date()), copyStorage: this.includesDisk,
          migrateUri: `tcp://${this.opts.hostAddress}`,
        });
      } finally {
        await source.close();
      }
      const dom = await this.require(c, uuid);
      for (const iface of spec.interfaces.filter((i) => i.kind === 'vdpa' || i.kind === 'hostdev')) {
        await libvirt(() => c.attachDevice(dom.name, guestInterfaceXml(iface), Flags.AFFECT_LIVE));
      }
    });
  }

  /** The libvirt URI of the host at `address` (as Nova's live_migration_uri, `%s` is the address). */
  libvirtUriOf(address: string): string {
    return (this.opts.liveMigrationUri ?? DEFAULT_LIVE_MIGRATION_URI).replaceAll('%s', address);
  }

  async status(uuid: string): Promise<GuestStatus | null> {
    const c = await this.connection();
    const dom = await this.find(c, uuid);
    if (!dom) return null;
    try {
      return await this.statusOf(c, dom.name, uuid);
    } catch (e) {
      if (e instanceof VirtDriverError && e.code === ErrorCode.NO_DOMAIN) return null;
      throw e;
    }
  }

  async consoleLog(uuid: string): Promise<string> {
    const status = await this.status(uuid);
    if (!status) throw new VirtDriverError(`Domain not found: no domain with matching uuid '${uuid}'`, ErrorCode.NO_DOMAIN);
    return readConsoleLog(status.domainXml);
  }

  /** Every domain of the connection, with whose it is (ownership metadata of this host: owned). */
  async list(): Promise<ListedGuest[]> {
    const c = await this.connection();
    const all: ListedGuest[] = [];
    for (const dom of await libvirt(() => c.listAllDomains(0))) {
      const s = await this.status(dom.uuid);
      if (s) all.push({ ...s, name: dom.name, ownership: classifyDomain(dom.uuid, s.domainXml, this.hostName) });
    }
    return all;
  }

  /**
   * virDomainSetMetadata of our element into the definition and, when it
   * runs, the live domain (where each lacks it): nothing else of the domain
   * changes, and it keeps running. Metadata naming another host is never
   * overwritten.
   */
  adopt(spec: GuestSpec): Promise<void> {
    return this.serial(spec.uuid, async (c) => {
      const dom = await this.require(c, spec.uuid);
      const active = isActive((await libvirt(() => c.getState(dom.name))).state);
      const config = ownershipOfXml(await libvirt(() => c.getXMLDesc(dom.name, Flags.XML_INACTIVE)));
      const live = active ? ownershipOfXml(await libvirt(() => c.getXMLDesc(dom.name, 0))) : null;
      if ([config, live].some((o) => o !== null && o.host !== this.hostName)) return;
      const flags = (config ? 0 : Flags.AFFECT_CONFIG) | (active && !live ? Flags.AFFECT_LIVE : 0);
      if (!flags) return;
      const xml = ownershipElementXml(ownershipFor(spec, this.hostName, new Date()));
      await libvirt(() => c.setMetadata(dom.name, xml, OWNERSHIP_PREFIX, OWNERSHIP_NAMESPACE, flags));
    });
  }

  async close(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    if (conn) await (await conn.catch(() => undefined))?.close();
  }

  /** QEMU guests have an instance directory (console log, disks); the test driver's have none. */
  private get usesInstanceDir(): boolean {
    return this.virtType !== 'test';
  }

  private get includesDisk(): boolean {
    return this.opts.includeDisk ?? this.virtType !== 'test';
  }

  private get instancesPath(): string {
    return this.opts.instancesPath ?? DEFAULT_INSTANCES_PATH;
  }

  /** The guest's definition, its ownership metadata naming this host and `createdAt`. */
  private domainXml(spec: GuestSpec, createdAt: Date): string {
    return guestDomainXml(spec, {
      virtType: this.virtType, instancesPath: this.instancesPath, includeDisk: this.includesDisk, machine: this.opts.machine,
      owner: { host: this.hostName, createdAt },
    });
  }

  /**
   * The definition of a guest about to be defined (again): a redefinition
   * (reboot, rebuild, rescue) keeps the creation time this host's metadata
   * gives it, so the definition is the one the guest had; otherwise now.
   */
  private async definitionOf(c: LibvirtConnection, spec: GuestSpec, dom?: NamedDomain): Promise<string> {
    const found = dom ?? (await this.find(c, spec.uuid));
    const xml = found ? await ignoring([ErrorCode.NO_DOMAIN], () => c.getXMLDesc(found.name, Flags.XML_INACTIVE)) : undefined;
    const created = xml && classifyDomain(found!.uuid, xml, this.hostName) === 'owned' ? new Date(ownershipOfXml(xml)!.createdAt) : null;
    return this.domainXml(spec, created && !Number.isNaN(created.getTime()) ? created : new Date());
  }

  /** The guest's disk: an overlay on its image, made before the first define (kept by a redefine). */
  private async ensureDisk(spec: GuestSpec): Promise<void> {
    // QEMU guests log their console into the instance directory (guestDomainXml), disk or not.
    if (this.usesInstanceDir) await ensureInstanceDir(this.instancesPath, spec.uuid);
    if (!this.includesDisk) return;
    // A same-host resize keeps the disk as it is now before it grows (spec.resizeBackup).
    await settleResizeBackups(this.instancesPath, spec.uuid, spec.resizeBackup, 'beforeDisk');
    if (!this.opts.images) {
      throw new VirtDriverError(`Cannot create the disk of ${spec.uuid}: this host has no image cache configured`);
    }
    const moved = spec.diskImport;
    if (moved) {
      const transfers = this.opts.diskTransfers;
      if (!transfers) throw new VirtDriverError(`Cannot bring the disk of ${spec.uuid} here: this host has no disk transfer link configured`);
      await importInstanceDisk(this.instancesPath, spec.uuid, spec.diskGb, (file) => transfers.download(spec.uuid, moved.migrationId, file));
      return;
    }
    const base = await this.opts.images.ensure(spec.imageRef);
    await ensureInstanceDisk(this.instancesPath, spec.uuid, spec.diskGb, base);
  }

  private async statusOf(c: LibvirtConnection, name: string, uuid: string): Promise<GuestStatus> {
    const { state } = await libvirt(() => c.getState(name));
    const saved = !isActive(state) && (await libvirt(() => c.hasManagedSave(name)));
    const domainXml = await libvirt(() => c.getXMLDesc(name, 0));
    return { uuid, state: saved ? 'suspended' : runState(state), domainXml };
  }

  /** Whether the NIC with this MAC is in the running guest and in its persistent definition. */
  private async presence(c: LibvirtConnection, name: string, mac: string) {
    const active = isActive((await libvirt(() => c.getState(name))).state);
    const live = active && hasInterface(await libvirt(() => c.getXMLDesc(name, 0)), mac);
    const config = hasInterface(await libvirt(() => c.getXMLDesc(name, Flags.XML_INACTIVE)), mac);
    return { active, live, config };
  }

  private async find(c: LibvirtConnection, uuid: string): Promise<NamedDomain | undefined> {
    const all = await libvirt(() => c.listAllDomains(0));
    return all.find((d) => d.uuid.toLowerCase() === uuid.toLowerCase());
  }

  private async require(c: LibvirtConnection, uuid: string): Promise<NamedDomain> {
    const dom = await this.find(c, uuid);
    if (!dom) throw new VirtDriverError(`Domain not found: no domain with matching uuid '${uuid}'`, ErrorCode.NO_DOMAIN);
    return dom;
  }

  /** One operation at a time per guest, so a retried instruction never races its first try. */
  private serial<T>(uuid: string, op: (c: LibvirtConnection) => Promise<T>): Promise<T> {
    const prev = this.queues.get(uuid) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(async () => op(await this.connection()));
    this.queues.set(uuid, next);
    const forget = () => { if (this.queues.get(uuid) === next) this.queues.delete(uuid); };
    next.then(forget, forget);
    return next;
  }
}

/** libvirt's and QEMU's versions, e.g. { libvirt: '9.0.0', qemu: '7.2.0' }. */
export async function libvirtHostVersions(conn: LibvirtConnection): Promise<{ libvirt: string; qemu: string }> {
  const [lib, hv] = await Promise.all([libvirt(() => conn.getVersion()), libvirt(() => conn.getHypervisorVersion())]);
  return { libvirt: formatVersion(lib), qemu: formatVersion(hv) };
}

/** The XML of every PCI, net and vDPA node device, for parseNodeDevices. */
export async function listNodeDeviceXml(conn: LibvirtConnection): Promise<string[]> {
  const flags = Flags.NODEDEV_CAP_PCI_DEV | Flags.NODEDEV_CAP_NET | Flags.NODEDEV_CAP_VDPA;
  const docs: string[] = [];
  for (const name of await libvirt(() => conn.listAllNodeDevices(flags))) {
    // A device can go away between the listing and the lookup (a VF being removed).
    const xml = await ignoring([ErrorCode.NO_NODE_DEVICE], () => conn.nodeDeviceXML(name));
    if (xml !== undefined) docs.push(xml);
  }
  return docs;
}

function isActive(state: number): boolean {
  return state === DomainState.RUNNING || state === DomainState.BLOCKED || state === DomainState.PAUSED
    || state === DomainState.PMSUSPENDED || state === DomainState.SHUTDOWN;
}

function runState(state: number): GuestRunState {
  switch (state) {
    case DomainState.RUNNING:
    case DomainState.BLOCKED:
    case DomainState.SHUTDOWN: // shutting down: still running until it is off
      return 'running';
    case DomainState.PAUSED:
    case DomainState.PMSUSPENDED:
      return 'paused';
    default:
      return 'shutoff';
  }
}

/** Detach needs only the NIC's identity: libvirt matches on the MAC. */
/**
 * Unplugs the running guest's vDPA NICs (a guest cannot be saved or migrated
 * with them), then runs `action`; if anything fails, the NICs already
 * unplugged are plugged back, so the guest is left as it was.
 */
async function withVdpaUnplugged(c: LibvirtConnection, name: string, domainXml: string, action: () => Promise<unknown>): Promise<void> {
  const vdpa = interfacesOf(domainXml).filter((i) => i.type === 'vdpa' && i.sourceDev);
  const unplugged: string[] = [];
  try {
    for (const iface of vdpa) {
      const xml = vdpaInterfaceXml(iface.mac, iface.sourceDev!);
      await libvirt(() => c.detachDevice(name, xml, Flags.AFFECT_LIVE));
      unplugged.push(xml);
    }
    await action();
  } catch (e) {
    for (const xml of unplugged) await c.attachDevice(name, xml, Flags.AFFECT_LIVE).catch(() => undefined);
    throw e;
  }
}

function vdpaInterfaceXml(mac: string, chardev: string): string {
  return guestInterfaceXml({ portId: mac, macAddress: mac, kind: 'vdpa', vdpaChardev: chardev });
}

/** Runs a libvirt call, turning libvirt's error into a VirtDriverError with its message unchanged. */
async function libvirt<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (isLibvirtError(e)) throw new VirtDriverError(e.message, e.code);
    if (e instanceof Error && !(e instanceof VirtDriverError)) throw new VirtDriverError(e.message);
    throw e;
  }
}

/** Runs a libvirt call whose listed errors mean "already done". */
async function ignoring<T>(codes: number[], call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await libvirt(call);
  } catch (e) {
    if (e instanceof VirtDriverError && e.code !== undefined && codes.includes(e.code)) return undefined;
    throw e;
  }
}
