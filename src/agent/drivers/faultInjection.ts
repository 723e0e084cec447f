/**
 * A virt driver that fails or hangs the operations an inventory host's
 * `faults` name, in front of the real one (the simulator). The fault is met
 * before the wrapped driver is called, so a failed or hung call changes
 * nothing on the hypervisor and a retry starts from the same state.
 */
import type { GuestInterface, GuestSpec, LiveMigrationRole } from '../../domain/guest/spec.js';
import { FaultPlan, type FaultOperation, type HostFaults } from '../../domain/inventory/faults.js';
import { ConsoleNotAvailable, VirtDriverError, type GuestStatus, type ListedGuest, type SnapshotImage, type VirtDriver } from './driver.js';
import { LibvirtErrorCode } from './simulated.js';

export class FaultInjectingDriver implements VirtDriver {
  readonly name: string;
  /** Only where the wrapped driver can define without starting (the agent checks for it). */
  readonly define?: (spec: GuestSpec) => Promise<GuestStatus>;
  readonly adopt?: (spec: GuestSpec) => Promise<void>;
  readonly rebuild?: (spec: GuestSpec) => Promise<GuestStatus>;
  readonly rescue?: (spec: GuestSpec) => Promise<GuestStatus>;
  readonly unrescue?: (spec: GuestSpec) => Promise<GuestStatus>;
  readonly snapshot?: (uuid: string, imageId: string) => Promise<SnapshotImage | null>;
  private readonly plan: FaultPlan;

  constructor(private readonly inner: VirtDriver, faults: HostFaults) {
    this.name = inner.name;
    this.plan = new FaultPlan(faults);
    if (inner.define) this.define = (spec) => inner.define!(spec);
    if (inner.adopt) this.adopt = (spec) => inner.adopt!(spec);
    if (inner.rebuild) this.rebuild = async (spec) => { await this.meet('rebuild'); return inner.rebuild!(spec); };
    if (inner.rescue) this.rescue = async (spec) => { await this.meet('rescue'); return inner.rescue!(spec); };
    if (inner.unrescue) this.unrescue = async (spec) => { await this.meet('unrescue'); return inner.unrescue!(spec); };
    if (inner.snapshot) this.snapshot = async (uuid, imageId) => { await this.meet('snapshot'); return inner.snapshot!(uuid, imageId); };
  }

  async spawn(spec: GuestSpec): Promise<GuestStatus> {
    await this.meet('spawn');
    return this.inner.spawn(spec);
  }

  async destroy(uuid: string, opts?: { keepDisks?: boolean }): Promise<void> {
    await this.meet('destroy');
    return this.inner.destroy(uuid, opts);
  }

  async powerOff(uuid: string): Promise<GuestStatus> {
    await this.meet('power_off');
    return this.inner.powerOff(uuid);
  }

  async powerOn(uuid: string): Promise<GuestStatus> {
    await this.meet('power_on');
    return this.inner.powerOn(uuid);
  }

  async suspend(uuid: string): Promise<GuestStatus> {
    await this.meet('suspend');
    return this.inner.suspend(uuid);
  }

  async resume(uuid: string, spec: GuestSpec): Promise<GuestStatus> {
    await this.meet('resume');
    return this.inner.resume(uuid, spec);
  }

  async reboot(spec: GuestSpec, type: 'SOFT' | 'HARD'): Promise<GuestStatus> {
    await this.meet('reboot');
    return this.inner.reboot(spec, type);
  }

  async pause(uuid: string): Promise<GuestStatus> {
    await this.meet('pause');
    return this.inner.pause(uuid);
  }

  async unpause(uuid: string): Promise<GuestStatus> {
    await this.meet('unpause');
    return this.inner.unpause(uuid);
  }

  async attachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus> {
    await this.meet('attach_interface');
    return this.inner.attachInterface(uuid, iface);
  }

  async detachInterface(uuid: string, iface: GuestInterface): Promise<GuestStatus> {
    await this.meet('detach_interface');
    return this.inner.detachInterface(uuid, iface);
  }

  async liveMigrationStep(uuid: string, role: LiveMigrationRole, peer: string, spec?: GuestSpec): Promise<void> {
    await this.meet('live_migrate');
    await this.inner.liveMigrationStep?.(uuid, role, peer, spec);
  }

  async consoleLog(uuid: string): Promise<string> {
    await this.meet('console_log');
    if (!this.inner.consoleLog) throw new ConsoleNotAvailable();
    return this.inner.consoleLog(uuid);
  }

  status(uuid: string): Promise<GuestStatus | null> {
    return this.inner.status(uuid);
  }

  list(): Promise<ListedGuest[]> {
    return this.inner.list();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * A hang is a promise that never settles and holds no timer: the agent's
   * other work goes on, and the process can still exit.
   */
  private meet(op: FaultOperation): Promise<void> {
    const fault = this.plan.take(op);
    if (fault === null) return Promise.resolve();
    if (fault.hang) return new Promise<void>(() => {});
    return Promise.reject(new VirtDriverError(fault.message!, LibvirtErrorCode.INTERNAL_ERROR));
  }
}
