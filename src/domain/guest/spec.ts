/**
 * What a guest should look like, independent of the hypervisor: the controller
 * records it, the compute agent's virt driver turns it into a libvirt domain.
 */
export interface GuestInterface {
  portId: string;
  macAddress: string;
  /** `vdpa`: the vDPA chardev of the claimed VF; `hostdev`: a passthrough VF/PF; `ethernet`: a plain NIC. */
  kind: 'vdpa' | 'hostdev' | 'ethernet';
  vdpaChardev?: string;
  pciAddress?: string;
  mtu?: number;
}

export interface GuestHostdev {
  /** A PCI passthrough device from a flavor alias. */
  pciAddress: string;
}

/** One guest NUMA node: its vCPUs and memory, and the host cell and page size backing it. */
export interface GuestNumaNode {
  id: number;
  vcpus: number[];
  memoryMb: number;
  hostCell: number;
  /** Page size in KiB; 4 = small pages (no <hugepages> entry). */
  pageKiB: number;
}

/** Where a guest with a NUMA topology runs on its host (numa/fit.ts NumaPlacement, as libvirt needs it). */
export interface GuestNuma {
  nodes: GuestNumaNode[];
  /** Each vCPU and the host CPUs it may run on (one for a pinned vCPU). */
  vcpuPins: Array<{ vcpu: number; hostCpus: number[] }>;
  emulatorCpus: number[];
}

export interface GuestSpec {
  uuid: string;
  name: string; // libvirt domain name, e.g. instance-6a1f2c9e
  displayName: string;
  /**
   * The flavor's name, for the domain's ownership metadata (ownership.ts).
   * Absent in specs stored before it was carried.
   */
  flavorName?: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  imageRef: string;
  interfaces: GuestInterface[];
  hostdevs: GuestHostdev[];
  /** Pinned CPUs, guest NUMA nodes and huge pages, for a guest with a NUMA topology. */
  numa?: GuestNuma;
  /**
   * Set on the two steps of a hot-plug live migration (the source letting the
   * guest go, the destination receiving it), so the host's agent knows that
   * what looks like an unplug or a fresh define is a migration. Not part of
   * the domain XML.
   */
  liveMigration?: {
    role: LiveMigrationRole;
    peer: string;
    /** The peer's address as it registered (host_ip): where a libvirt host reaches the peer's libvirtd. */
    peerAddress?: string;
  };
  /**
   * A reboot asked of the guest: set only in the instruction that asks for
   * it (the controller drops it from every later copy of the spec), so an
   * agent reboots once per request. SOFT: the guest restarts, QEMU keeps
   * running; HARD: destroyed, defined again from this spec (same devices),
   * started. Not part of the domain XML.
   */
  reboot?: { type: 'SOFT' | 'HARD' };
  /**
   * Rescue mode (Nova's rescue): the guest boots the rescue image's disk and
   * keeps its own disk as the second one and every NIC, the same vDPA devices
   * included. Part of the domain XML while set.
   */
  rescue?: { imageRef: string };
  /**
   * Set on the instruction that takes the guest down for a resize to the
   * same host (or its revert, or its failure there): the definition goes,
   * the instance's disks stay for the definition that follows on that host,
   * as Nova's same-host resize keeps the instance's disk. Not part of the
   * domain XML.
   */
  keepDisks?: boolean;
  /**
   * A resize to the same host (coldMove.ts), named by its migration, on
   * every instruction from the removal of the old definition until confirm
   * or revert: the instance's disk as it was before the resize is kept
   * aside, made before the new definition grows the disk, as Nova's
   * same-host resize keeps `<instance>_resize`. With `restore` (revert, or
   * the resize failed there), once the guest's definition is gone, the kept
   * disk is the instance's disk again: its old size and content. A guest
   * whose spec names no such migration keeps no backup: confirm removes it
   * (resizeBackup.ts). Not part of the domain XML.
   */
  resizeBackup?: ResizeBackupRequest;
  /**
   * A cold move to another host (coldMove.ts): on the source, set on the
   * instruction that powers the guest off, the agent then uploads the
   * instance's disk (flattened) to the controller as the move's transfer
   * blob before it reports; on the destination, the guest's disk is that
   * blob (downloaded once, grown to the flavor's root disk) instead of a
   * fresh overlay. Both name the migration, so a repeated step finds the
   * same blob. Not part of the domain XML.
   */
  diskExport?: { migrationId: string };
  diskImport?: { migrationId: string };
  /**
   * One-shot instructions carried by one generation (the controller clears
   * them once the step is done): recreate the guest from `imageRef`
   * (`rebuild.id` tells one rebuild from the next), or take a snapshot of its
   * disk as image `snapshot.imageId`. Not part of the domain XML.
   */
  rebuild?: { id: string };
  snapshot?: { imageId: string };
}

export type LiveMigrationRole = 'source' | 'destination';

export interface ResizeBackupRequest {
  migrationId: string;
  restore?: boolean;
}

/** Power states as Nova reports them (OS-EXT-STS:power_state). */
export const PowerState = {
  NOSTATE: 0,
  RUNNING: 1,
  PAUSED: 3,
  SHUTDOWN: 4,
  CRASHED: 6,
  SUSPENDED: 7,
} as const;
