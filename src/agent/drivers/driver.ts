import type { DomainOwnershipClass } from '../../domain/guest/ownership.js';
import type { GuestInterface, GuestSpec, LiveMigrationRole, ResizeBackupRequest } from '../../domain/guest/spec.js';

export type GuestRunState = 'running' | 'paused' | 'suspended' | 'shutoff' | 'absent';

export interface GuestStatus {
  uuid: string;
  state: GuestRunState;
  /** The libvirt domain XML the guest is defined with. */
  domainXml: string;
}

/** A guest as the hypervisor lists it, ours or not. */
export interface ListedGuest extends GuestStatus {
  /** The hypervisor's name for it (libvirt's domain name). */
  name: string;
  /**
   * Whose it is, from its ownership metadata (domain/guest/ownership.ts): only
   * an owned guest is the agent's to remove unasked. The simulator's are all owned.
   */
  ownership: DomainOwnershipClass;
}

export interface MigrateOptions {
  /** The guest as it must run on the destination (its paths there, the devices it has here). */
  destXml?: string;
  /** Its persistent definition on the destination. */
  persistXml?: string;
  /** Copy the disks that are not shared (libvirt's NON_SHARED_INC: the overlay; the image is on both hosts). */
  copyStorage?: boolean;
  /** Where the migration stream goes, e.g. tcp://10.0.0.2 (libvirt's VIR_MIGRATE_PARAM_URI). */
  migrateUri?: string;
}

/** A snapshot's data on the host: one file, no backing file (drivers/libvirt/instanceDisks.ts flattenDisk). */
export interface SnapshotImage {
  file: string;
}

/** Raised by a driver with the hypervisor's own message (e.g. libvirt's). */
export class VirtDriverError extends Error {
  constructor(message: string, readonly code?: number) {
    super(message);
    this.name = 'VirtDriverError';
  }
}

/** Nova's ConsoleNotAvailable: the guest has no console log to read. */
export class ConsoleNotAvailable extends VirtDriverError {
  constructor() {
    super('Guest does not have a console available.');
    this.name = 'ConsoleNotAvailable';
  }
}

/**
 * What a compute agent needs from a hypervisor. The simulated driver and the
 * libvirt driver implement the same interface; every operation is idempotent
 * (define of a defined guest redefines, delete of an absent guest succeeds),
 * so a retried or repeated instruction does no harm.
 */
export interface VirtDriver {
  readonly name: string;
  /** Define (or redefine) the guest and start it. Returns the domain XML it was given. */
  spawn(spec: GuestSpec): Promise<GuestStatus>;
  /**
   * Defines the guest without starting it (a guest wanted stopped that the
   * hypervisor no longer knows: its definition was lost with a host or an
   * in-memory simulator). Never starts anything; a defined guest keeps its state.
   */
  define?(spec: GuestSpec): Promise<GuestStatus>;
  /** Removes the guest and its disks; `keepDisks` keeps the disks (spec.keepDisks: a same-host resize). */
  destroy(uuid: string, opts?: { keepDisks?: boolean }): Promise<void>;
  /** Removes what a guest the hypervisor no longer has left on the host (its disk, after it migrated away). */
  cleanUp?(uuid: string): Promise<void>;
  /**
   * A same-host resize's backup of the disk (spec.resizeBackup,
   * domain/guest/resizeBackup.ts): made, restored (only `definitionGone`:
   * after a destroy that kept the disks) or removed as the spec asks. Drivers
   * without disk data leave it out.
   */
  settleResizeBackup?(uuid: string, wanted: ResizeBackupRequest | undefined, moment: 'definitionGone' | 'settled'): Promise<void>;
  powerOff(uuid: string): Promise<GuestStatus>;
  powerOn(uuid: string): Promise<GuestStatus>;
  /** Unplugs vDPA interfaces, then saves guest memory (behaviour.md, suspend). */
  suspend(uuid: string): Promise<GuestStatus>;
  /** Restores guest memory, then plugs the vDPA interfaces back. */
  resume(uuid: string, spec: GuestSpec): Promise<GuestStatus>;
  /**
   * SOFT: the guest restarts and keeps its domain and devices (libvirt
   * falls back to HARD when it cannot, as Nova's does). HARD: the domain is
   * destroyed, defined again from `spec` (the same vDPA devices) and started,
   * from any state (a saved image is discarded).
   */
  reboot(spec: GuestSpec, type: 'SOFT' | 'HARD'): Promise<GuestStatus>;
  /** Freezes the running guest's vCPUs (virDomainSuspend); devices stay plugged. */
  pause(uuid: string): Promise<GuestStatus>;
  /** Lets a paused guest run again (virDomainResume). */
  unpause(uuid: string): Promise<GuestStatus>;
  attachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus>;
  detachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus>;
  /**
   * Live-migrates the guest to another hypervisor, hot-plug style: vDPA NICs
   * cannot carry their state, so they are unplugged on this side first (and
   * plugged back if the migration fails); the destination plugs its own.
   * `destinationUri` is the destination's libvirt URI (simulated: its host name).
   */
  migrate?(uuid: string, destinationUri: string, options?: MigrateOptions): Promise<void>;
  /**
   * Told before the agent does this host's side of a hot-plug live migration
   * (source: unplug the PCI NICs, guest keeps running; destination: define and
   * start the guest). A rejection fails the step, and the controller rolls the
   * migration back. `peer` is the other host.
   */
  liveMigrationStep?(uuid: string, role: LiveMigrationRole, peer: string, spec?: GuestSpec): Promise<void>;
  /**
   * Rebuild (Nova's rebuild): the guest is destroyed and defined again from
   * `spec` on this host (new image, same NICs and devices), then started.
   * `spec.rebuild.id` names the rebuild, so one already done is not redone.
   */
  rebuild?(spec: GuestSpec): Promise<GuestStatus>;
  /** Rescue: the guest is stopped and started again as its rescue definition (spec.rescue set), same NICs. */
  rescue?(spec: GuestSpec): Promise<GuestStatus>;
  /** Unrescue: the rescue guest is stopped and the original definition (spec without rescue) started again. */
  unrescue?(spec: GuestSpec): Promise<GuestStatus>;
  /**
   * Snapshot of the guest's disk as image `imageId`, the guest left in the
   * state it is in (with its devices). Returns the standalone image file the
   * agent uploads as the image's data (then removes), or null when the
   * hypervisor has no disk data to give (the simulator, libvirt's test
   * driver). Idempotent per image id.
   */
  snapshot?(uuid: string, imageId: string): Promise<SnapshotImage | null>;
  /**
   * A cold move's disk (spec.diskExport), taken from the guest once it is
   * off: one standalone file the agent uploads to the controller (then
   * removes), or null when the hypervisor has no disk data (the simulator,
   * libvirt's test driver). Idempotent per migration.
   */
  exportDisk?(uuid: string, migrationUuid: string): Promise<SnapshotImage | null>;
  /**
   * The guest's serial console log, at most its last MAX_CONSOLE_BYTES
   * (domain/guest/consoleLog.ts). Throws ConsoleNotAvailable when the guest
   * logs no console (a test-driver domain, a log not written yet).
   */
  consoleLog?(uuid: string): Promise<string>;
  /**
   * Marks a guest defined before domains carried ownership metadata as this
   * host's (the controller places it here), without redefining or restarting
   * it. A guest that has metadata already is left as it is.
   */
  adopt?(spec: GuestSpec): Promise<void>;
  status(uuid: string): Promise<GuestStatus | null>;
  /** Every guest the hypervisor has, including those that are not ours (see ListedGuest.ownership). */
  list(): Promise<ListedGuest[]>;
  close(): Promise<void>;
}
