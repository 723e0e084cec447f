/**
 * Typed access to our libvirt addon (native/, built by scripts/build-native.sh).
 * The addon is optional: it is loaded on first use, so a machine without
 * libvirt-dev can install and run everything except the libvirt driver.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The flag values of libvirt's C API that this project uses (libvirt-domain.h, libvirt-nodedev.h). */
export const Flags = {
  DEFINE_VALIDATE: 1 << 0,
  UNDEFINE_MANAGED_SAVE: 1 << 0,
  UNDEFINE_NVRAM: 1 << 2,
  AFFECT_CURRENT: 0,
  AFFECT_LIVE: 1 << 0,
  AFFECT_CONFIG: 1 << 1,
  XML_INACTIVE: 1 << 1,
  LIST_DOMAINS_ACTIVE: 1 << 0,
  LIST_DOMAINS_INACTIVE: 1 << 1,
  LIST_DOMAINS_MANAGEDSAVE: 1 << 8,
  MIGRATE_LIVE: 1 << 0,
  MIGRATE_PEER2PEER: 1 << 1,
  MIGRATE_PERSIST_DEST: 1 << 3,
  MIGRATE_UNDEFINE_SOURCE: 1 << 4,
  MIGRATE_NON_SHARED_INC: 1 << 7,
  NODEDEV_CAP_SYSTEM: 1 << 0,
  NODEDEV_CAP_PCI_DEV: 1 << 1,
  NODEDEV_CAP_NET: 1 << 4,
  NODEDEV_CAP_VDPA: 1 << 17,
} as const;

/** virDomainState. */
export const DomainState = {
  NOSTATE: 0,
  RUNNING: 1,
  BLOCKED: 2,
  PAUSED: 3,
  SHUTDOWN: 4,
  SHUTOFF: 5,
  CRASHED: 6,
  PMSUSPENDED: 7,
} as const;

/** virDomainShutoffReason for a guest stopped by a managed save. */
export const SHUTOFF_SAVED = 5;

/** virErrorNumber values the driver branches on (virterror.h). */
export const ErrorCode = {
  NO_SUPPORT: 3,
  INVALID_ARG: 8,
  NO_DOMAIN: 42,
  OPERATION_INVALID: 55,
  NO_NODE_DEVICE: 53,
  OPERATION_UNSUPPORTED: 84,
} as const;

/** A failed libvirt call: libvirt's own message, error number, origin and level (virErrorPtr). */
export interface LibvirtError extends Error {
  name: 'LibvirtError';
  code: number;
  domain: number;
  level: number;
}

export function isLibvirtError(e: unknown): e is LibvirtError {
  return e instanceof Error && e.name === 'LibvirtError' && typeof (e as LibvirtError).code === 'number';
}

export interface NamedDomain { name: string; uuid: string }
export interface NodeInfo {
  model: string; memoryKiB: number; cpus: number; mhz: number;
  nodes: number; sockets: number; cores: number; threads: number;
}
export interface MigrateParams {
  /** Where QEMU sends the migration stream (VIR_MIGRATE_PARAM_URI), e.g. tcp://10.0.0.2; default: what the destination's libvirtd says. */
  uri?: string;
  destName?: string;
  /** The guest as it must run on the destination (VIR_MIGRATE_PARAM_DEST_XML): devices as on the source, paths of the destination. */
  destXml?: string;
  /** The destination's persistent definition (VIR_MIGRATE_PARAM_PERSIST_XML), with PERSIST_DEST. */
  persistXml?: string;
  bandwidthMiB?: number;
}

/** The addon's one class. Every method runs its libvirt call on a libuv worker thread. */
export interface LibvirtConnection {
  open(uri: string): Promise<void>;
  close(): Promise<void>;
  /** libvirt's version as major * 1e6 + minor * 1e3 + release. */
  getVersion(): Promise<number>;
  /** The hypervisor's (QEMU's) version, encoded like getVersion. */
  getHypervisorVersion(): Promise<number>;
  getHostname(): Promise<string>;
  nodeInfo(): Promise<NodeInfo>;
  defineXML(xml: string, flags?: number): Promise<NamedDomain>;
  undefine(name: string, flags?: number): Promise<void>;
  create(name: string): Promise<void>;
  destroy(name: string): Promise<void>;
  suspend(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  /** virDomainReboot (flags 0: the hypervisor picks ACPI or the guest agent). */
  reboot(name: string): Promise<void>;
  managedSave(name: string): Promise<void>;
  hasManagedSave(name: string): Promise<boolean>;
  save(name: string, file: string): Promise<void>;
  restore(file: string): Promise<void>;
  attachDevice(name: string, xml: string, flags?: number): Promise<void>;
  detachDevice(name: string, xml: string, flags?: number): Promise<void>;
  getXMLDesc(name: string, flags?: number): Promise<string>;
  /** virDomainSetMetadata of one element (VIR_DOMAIN_METADATA_ELEMENT) in namespace `uri`, written with prefix `key`; flags AFFECT_*. */
  setMetadata(name: string, xml: string, key: string, uri: string, flags?: number): Promise<void>;
  getState(name: string): Promise<{ state: number; reason: number }>;
  listAllDomains(flags?: number): Promise<NamedDomain[]>;
  /** destinationUri is the destination libvirt's URI for peer-to-peer migration, null otherwise. */
  migrateToURI3(name: string, destinationUri: string | null, params: MigrateParams, flags?: number): Promise<void>;
  listAllNodeDevices(flags?: number): Promise<string[]>;
  nodeDeviceXML(name: string): Promise<string>;
}

/** Where scripts/build-native.sh puts the addon, from src/ or dist/src/. */
export function addonPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'native', 'binding.gyp'))) {
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return path.join(dir, 'native', 'build', 'Release', 'vdpa_libvirt.node');
}

type ConnectionClass = new () => LibvirtConnection;
let addon: ConnectionClass | undefined;

function loadAddon(): ConnectionClass {
  if (addon) return addon;
  const file = addonPath();
  if (!existsSync(file)) {
    throw new Error(`the libvirt addon is not built: run scripts/build-native.sh (looked for ${file})`);
  }
  addon = (createRequire(import.meta.url)(file) as { Connection: ConnectionClass }).Connection;
  return addon;
}

/** Whether the addon can be loaded here, without loading it. */
export function libvirtAddonBuilt(): boolean {
  return existsSync(addonPath());
}

/** Opens a libvirt connection (e.g. `qemu:///system`, `test:///abs/path/host.xml`). */
export async function openLibvirt(uri: string): Promise<LibvirtConnection> {
  const conn = new (loadAddon())();
  await conn.open(uri);
  return conn;
}

/** libvirt's encoded version number as "major.minor.release". */
export function formatVersion(v: number): string {
  return `${Math.floor(v / 1_000_000)}.${Math.floor(v / 1000) % 1000}.${v % 1000}`;
}
