/**
 * What the doctor audits: the rows of the tables whose invariants it checks,
 * read together (one transaction) so the rules see one moment of the database.
 */
import type { HostDevice } from '../pci/device.js';
import type { Pool } from '../pci/pools.js';

export interface AuditInstance {
  uuid: string;
  vmState: string;
  taskState: string | null;
  host: string | null;
  /** The start of the current step's deadline; older rows may have none (then updatedAt counts). */
  taskChangedAt: string | null;
  updatedAt: string;
  portIds: string[];
  /** Ports the server holds a PCI request for: each must be bound to a device. */
  devicePortIds: string[];
  /** Devices the server's flavor asks for (PCI aliases): held without a port naming them. */
  aliasDeviceCount: number;
}

export interface AuditMigration {
  uuid: string;
  instanceUuid: string;
  migrationType: string;
  status: string;
  sourceCompute: string | null;
  destCompute: string | null;
}

export type AuditDevice = HostDevice & { consumer: string | null };

export interface AuditPool extends Pool {
  host: string;
}

export interface AuditComputeNode {
  host: string;
  vcpusUsed: number;
  memoryMbUsed: number;
  localGbUsed: number;
  runningVms: number;
}

export interface AuditAllocation {
  consumer: string;
  host: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

export interface AuditPort {
  id: string;
  deviceId: string;
  deviceOwner: string;
  hostId: string;
  /** binding:profile pci_slot, when the binding names a device. */
  pciSlot: string | null;
}

export interface AuditGuest {
  instanceUuid: string;
  host: string;
}

export interface AuditSnapshot {
  instances: AuditInstance[];
  migrations: AuditMigration[];
  devices: AuditDevice[];
  pools: AuditPool[];
  computeNodes: AuditComputeNode[];
  allocations: AuditAllocation[];
  ports: AuditPort[];
  guests: AuditGuest[];
}

export interface AuditOptions {
  /** Milliseconds since the epoch: the moment deadlines are judged at. */
  now: number;
  /** Seconds a task step may take (config operation_timeout). */
  operationTimeoutSeconds: number;
}
