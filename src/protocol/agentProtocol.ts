import type { DiscoveredFunction, TrackedDevice } from '../domain/pci/device.js';
import type { GuestSpec } from '../domain/guest/spec.js';
import type { HostNumaTopology } from '../domain/numa/hostTopology.js';

/**
 * The conversation between a compute agent and the controller. The all-in-one
 * calls the controller's implementation directly; a remote agent uses the same
 * interface over HTTP (`/agent/v1/...`). Every call is idempotent, so an agent
 * that retries after a lost answer changes nothing twice.
 */

export type { HostVersions } from '../domain/inventory/hostVersions.js';
import type { HostVersions } from '../domain/inventory/hostVersions.js';

export interface HostRegistration {
  host: string;
  serviceVersion: number;
  hypervisorType: string; // QEMU for libvirt hosts, like Nova
  hostIp: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  versions: HostVersions;
  /** Set when the host is below a vDPA minimum: it then reports no vdpa devices. */
  vdpaUnsupportedReason: string | null;
  /** The host's NUMA cells and CPU sets; absent or null: one cell of every CPU and all memory (no huge pages). */
  numaTopology?: HostNumaTopology | null;
}

export interface InventoryReport {
  host: string;
  devices: TrackedDevice[];
}

/** What the controller wants to be true for one guest on the reporting host. */
export type DesiredGuestState = 'running' | 'paused' | 'suspended' | 'shutoff' | 'absent';

export interface GuestAssignment {
  instanceUuid: string;
  desiredState: DesiredGuestState;
  /** Bumped whenever the desired state or spec changes; the agent reports the one it applied. */
  generation: number;
  spec: GuestSpec;
  /** The API request that asked for this state (protocol/requestIds.ts), for the agent's log and report. */
  requestId?: string;
}

export interface GuestReport {
  host: string;
  instanceUuid: string;
  generation: number;
  /** The state reached, or null when applying failed. */
  observedState: DesiredGuestState | null;
  domainXml: string | null;
  error: string | null;
  /** The assignment's requestId, echoed: the controller's steps after the report log it again. */
  requestId?: string;
}

/** A console log the controller asks of the host's agent (`os-getConsoleOutput`). */
export interface ConsoleRequest {
  id: string;
  instanceUuid: string;
  /** The last this many lines; null: all of it (at most MAX_CONSOLE_BYTES). */
  lines: number | null;
}

export interface ConsoleAnswer {
  host: string;
  id: string;
  /** The log, or null when reading it failed. */
  output: string | null;
  error: string | null;
  /** True when the guest has no console (Nova's ConsoleNotAvailable). */
  notAvailable: boolean;
}

/**
 * What the hypervisor says a guest is, seen by the agent's power-state sync
 * rather than as the answer to an instruction (a guest stopped behind the
 * controller's back, as Nova's _sync_power_states finds it).
 */
export interface PowerStateReport {
  host: string;
  instanceUuid: string;
  state: DesiredGuestState;
}

/** Told when there may be new work for its host (see ControllerLink.watchWork). */
export interface WorkWatcher {
  workMayBeWaiting(): void;
}

export interface ControllerLink {
  registerHost(reg: HostRegistration): Promise<void>;
  reportInventory(report: InventoryReport): Promise<void>;
  heartbeat(host: string): Promise<void>;
  /**
   * Guests of this host whose desired generation the agent has not yet
   * reported, at most PENDING_GUESTS_PAGE of them (a full page: ask again).
   */
  pendingGuests(host: string): Promise<GuestAssignment[]>;
  /** Every guest the controller places on this host (for reconciliation after a restart). */
  allGuests(host: string): Promise<GuestAssignment[]>;
  reportGuest(report: GuestReport): Promise<void>;
  /** Optional: a guest's state as the power-state sync found it (links of agents that sync power states have it). */
  reportPowerState?(report: PowerStateReport): Promise<void>;
  /** Resolves when there may be new work for the host, after timeoutMs, or when `signal` aborts. */
  waitForWork(host: string, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  /**
   * Optional, offered by a link inside the controller's own process: the
   * watcher is told whenever there may be new work for the host, until
   * unwatchWork. An agent whose link has it keeps no waitForWork call open
   * while idle (the all-in-one runs 10,000 agents, each would hold a promise
   * and a timer).
   */
  watchWork?(host: string, watcher: WorkWatcher): void;
  /**
   * Console logs asked of this host and not yet answered. Optional so that a
   * link of an older controller (or a test's) simply never asks; an agent
   * asks after each look at its pending guests.
   */
  pendingConsoleRequests?(host: string): Promise<ConsoleRequest[]>;
  answerConsoleRequest?(answer: ConsoleAnswer): Promise<void>;
  unwatchWork?(host: string, watcher: WorkWatcher): void;
  /**
   * Uploads the data of the snapshot the guest's spec names (spec.snapshot)
   * from `file` on this host as image `imageId`'s data. Optional: only hosts
   * whose driver has disk data (libvirt) need it. Done again, it changes nothing.
   */
  uploadSnapshot?(host: string, instanceUuid: string, imageId: string, file: string): Promise<void>;
  /**
   * A cold move's disk (spec.diskExport on the source, spec.diskImport on the
   * destination): the source uploads `file`, the destination downloads the
   * blob into `file`. Optional: only hosts with disk data need them. Both
   * may be repeated.
   */
  uploadDiskTransfer?(host: string, instanceUuid: string, migrationUuid: string, file: string): Promise<void>;
  downloadDiskTransfer?(host: string, instanceUuid: string, migrationUuid: string, file: string): Promise<void>;
}

export type { DiscoveredFunction };

/** The most guests one pendingGuests answer holds; an agent that gets this many asks again at once. */
export const PENDING_GUESTS_PAGE = 500;
