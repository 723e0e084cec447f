import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { create } from 'xmlbuilder2';
import type { GuestInterface, GuestSpec } from '../domain/guest/spec.js';
import type { TrackedDevice } from '../domain/pci/device.js';
import type {
  ControllerLink, DesiredGuestState, GuestAssignment, HostRegistration, HostVersions,
} from '../protocol/agentProtocol.js';
import type { GuestStatus, VirtDriver } from './drivers/driver.js';

export interface HostIdentity {
  host: string;
  serviceVersion: number;
  hypervisorType: string;
  hostIp: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
}

export interface HostDiscovery {
  versions(): Promise<HostVersions>;
  /** Devices to report, and why vDPA is unsupported (null when it is supported). */
  devices(): Promise<{ devices: TrackedDevice[]; vdpaUnsupportedReason: string | null }>;
}

export interface ComputeAgentOptions {
  identity: HostIdentity;
  discovery: HostDiscovery;
  driver: VirtDriver;
  link: ControllerLink;
  log: Logger;
  heartbeatMs?: number;
  rediscoverMs?: number;
  /** Guests worked on at once. */
  concurrency?: number;
}

function macsOf(xml: string): string[] {
  return [...xml.matchAll(/<mac address=['"]([0-9a-fA-F:]+)['"]/g)].map((m) => m[1]!.toLowerCase());
}

function hexField(el: Element, name: string, width: number): string {
  return (el.getAttribute(name) ?? '0').replace(/^0x/i, '').toLowerCase().padStart(width, '0');
}

/**
 * The guest's NICs as its domain XML describes them, so an unplug hands the
 * driver the interface that is really there (type, chardev or VF address),
 * not a guess. The port id is not in the XML; drivers match by MAC then.
 */
export function interfacesOfDomainXml(xml: string): GuestInterface[] {
  if (!xml) return [];
  const found: GuestInterface[] = [];
  create(xml).root().each((node) => {
    const el = node.node as unknown as Element;
    if (el.nodeName !== 'interface') return;
    const type = el.getAttribute('type');
    const iface: GuestInterface = { portId: '', macAddress: '', kind: type === 'vdpa' ? 'vdpa' : type === 'hostdev' ? 'hostdev' : 'ethernet' };
    for (const child of Array.from(el.childNodes) as Element[]) {
      if (child.nodeName === 'mac') iface.macAddress = (child.getAttribute('address') ?? '').toLowerCase();
      if (child.nodeName === 'mtu' && child.getAttribute('size')) iface.mtu = Number(child.getAttribute('size'));
      if (child.nodeName !== 'source') continue;
      if (iface.kind === 'vdpa' && child.getAttribute('dev')) iface.vdpaChardev = child.getAttribute('dev')!;
      for (const a of Array.from(child.childNodes) as Element[]) {
        if (a.nodeName === 'address') {
          iface.pciAddress = `${hexField(a, 'domain', 4)}:${hexField(a, 'bus', 2)}:${hexField(a, 'slot', 2)}.${hexField(a, 'function', 1)}`;
        }
      }
    }
    found.push(iface);
  }, true, true);
  return found;
}

/** Sleeps, but wakes at once when the agent stops. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Runs at most `max` tasks at once; the rest wait their turn in order. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}

/**
 * Agents in one process register a few at a time: the all-in-one starts
 * thousands at once, and each would hold its discovered devices while it
 * waits for the controller (2.3 GB peak with 10,000 hosts of 64 VFs).
 */
const registrations = new Limiter(8);

/**
 * Agents in one process (the all-in-one) share one controller, and a wake-up
 * signal reaches them at once; the fallback poll of them all together stays
 * near 200 per second (1 s for up to 200 agents, 5 s for 1,000, 50 s for 10,000).
 */
let agentsInProcess = 0;
const fallbackPollMs = () => Math.max(1000, agentsInProcess * 5);

/** What was last reported, as a digest: 10,000 hosts would otherwise each keep ~20 KB of JSON. */
function inventoryKey(devices: TrackedDevice[]): string {
  return createHash('sha256').update(JSON.stringify(devices)).digest('base64');
}

/**
 * A compute agent: registers its host, reports devices and heartbeats, and
 * makes each guest the controller places here match its desired state. It is
 * level-triggered: after a restart it re-reads every assignment and converges,
 * and each step is idempotent, so nothing is lost or done twice.
 */
export class ComputeAgent {
  private running = false;
  private stopping = new AbortController();
  private loops: Promise<void>[] = [];
  private readonly inFlight = new Set<string>();
  private lastInventoryKey = '';
  private counted = false;

  constructor(private readonly o: ComputeAgentOptions) {}

  get host(): string {
    return this.o.identity.host;
  }

  async start(): Promise<void> {
    this.running = true;
    this.stopping = new AbortController();
    if (!this.counted) {
      this.counted = true;
      agentsInProcess += 1;
    }
    await this.withRetry('register', () => registrations.run(() => this.register()));
    await this.withRetry('reconcile', () => this.reconcileAll());
    this.loops.push(this.heartbeatLoop(), this.workLoop(), this.discoveryLoop());
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.counted) {
      this.counted = false;
      agentsInProcess -= 1;
    }
    this.stopping.abort();
    await Promise.allSettled(this.loops);
    this.loops = [];
  }

  /** Runs discovery now (devices that came or went since the last run) and reports the result. */
  async rediscover(): Promise<void> {
    const { devices } = await this.o.discovery.devices();
    const key = inventoryKey(devices);
    if (key === this.lastInventoryKey) return;
    await this.o.link.reportInventory({ host: this.host, devices });
    this.lastInventoryKey = key;
  }

  private async register(): Promise<void> {
    const versions = await this.o.discovery.versions();
    const { devices, vdpaUnsupportedReason } = await this.o.discovery.devices();
    if (vdpaUnsupportedReason) this.o.log.warn({ host: this.host }, `vDPA disabled on this host: ${vdpaUnsupportedReason}`);
    const reg: HostRegistration = { ...this.o.identity, versions, vdpaUnsupportedReason };
    await this.o.link.registerHost(reg);
    await this.o.link.reportInventory({ host: this.host, devices });
    this.lastInventoryKey = inventoryKey(devices);
  }

  /** Guests the driver runs that the controller no longer places here are removed (e.g. after an evacuation). */
  private async reconcileAll(): Promise<void> {
    const assignments = await this.o.link.allGuests(this.host);
    const wanted = new Set(assignments.map((a) => a.instanceUuid));
    for (const g of await this.o.driver.list()) {
      if (!wanted.has(g.uuid)) {
        this.o.log.info({ host: this.host, server: g.uuid }, 'removing a guest this host no longer owns');
        await this.o.driver.destroy(g.uuid);
      }
    }
    await this.applyAll(assignments);
  }

  private async heartbeatLoop(): Promise<void> {
    const every = this.o.heartbeatMs ?? 10_000;
    while (this.running) {
      await sleep(every, this.stopping.signal);
      if (!this.running) break;
      try {
        await this.o.link.heartbeat(this.host);
      } catch (err) {
        this.o.log.warn({ err, host: this.host }, 'heartbeat failed; will retry');
      }
    }
  }

  private async discoveryLoop(): Promise<void> {
    const every = this.o.rediscoverMs ?? 60_000;
    while (this.running) {
      await sleep(every, this.stopping.signal);
      if (!this.running) break;
      try {
        await this.rediscover();
      } catch (err) {
        this.o.log.warn({ err, host: this.host }, 'rediscovery failed; will retry');
      }
    }
  }

  private async workLoop(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        const pending = await this.o.link.pendingGuests(this.host);
        if (pending.length > 0) {
          await this.applyAll(pending);
        } else {
          const pollMs = fallbackPollMs();
          await Promise.race([this.o.link.waitForWork(this.host, pollMs), sleep(pollMs, this.stopping.signal)]);
        }
        backoff = 100;
      } catch (err) {
        this.o.log.warn({ err, host: this.host }, `controller unreachable; retrying in ${backoff} ms`);
        await sleep(backoff, this.stopping.signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }

  private async applyAll(assignments: GuestAssignment[]): Promise<void> {
    const limit = this.o.concurrency ?? 64;
    const queue = assignments.filter((a) => !this.inFlight.has(a.instanceUuid));
    const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let a = queue.shift(); a; a = queue.shift()) await this.apply(a);
    });
    await Promise.all(workers);
  }

  private async apply(a: GuestAssignment): Promise<void> {
    this.inFlight.add(a.instanceUuid);
    try {
      let status: GuestStatus | null = null;
      let error: string | null = null;
      try {
        status = await this.converge(a.spec, a.desiredState);
      } catch (err) {
        error = (err as Error).message;
        this.o.log.warn({ host: this.host, server: a.instanceUuid, err: error }, 'guest operation failed');
      }
      await this.withRetry('report', () => this.o.link.reportGuest({
        host: this.host,
        instanceUuid: a.instanceUuid,
        generation: a.generation,
        observedState: error ? null : (status?.state ?? 'absent') as DesiredGuestState,
        domainXml: status?.domainXml ?? null,
        error,
      }));
    } finally {
      this.inFlight.delete(a.instanceUuid);
    }
  }

  /** One idempotent step from whatever the guest is now to what it should be. */
  private async converge(spec: GuestSpec, desired: DesiredGuestState): Promise<GuestStatus | null> {
    const d = this.o.driver;
    const current = await d.status(spec.uuid);
    const state = current?.state ?? 'absent';
    switch (desired) {
      case 'absent':
        if (state !== 'absent') await d.destroy(spec.uuid);
        return null;
      case 'running':
        if (state === 'absent') return d.spawn(spec);
        if (state === 'suspended') return d.resume(spec.uuid, spec);
        if (state === 'shutoff') return this.syncInterfaces(spec, await d.powerOn(spec.uuid));
        return this.syncInterfaces(spec, current!);
      case 'suspended':
        if (state === 'absent') throw new Error(`guest ${spec.uuid} does not exist on ${this.host}`);
        if (state === 'suspended') return current;
        return d.suspend(spec.uuid);
      case 'shutoff':
        if (state === 'absent') throw new Error(`guest ${spec.uuid} does not exist on ${this.host}`);
        // A stopped guest's definition follows the spec too (interface attach/detach while SHUTOFF).
        if (state === 'shutoff') return this.syncInterfaces(spec, current!);
        return this.syncInterfaces(spec, await d.powerOff(spec.uuid));
      case 'paused':
        return current;
    }
  }

  /** Unplugs and hot-plugs interfaces so the guest (running or defined) has exactly the spec's NICs. */
  private async syncInterfaces(spec: GuestSpec, status: GuestStatus): Promise<GuestStatus> {
    const want = new Map(spec.interfaces.map((i) => [i.macAddress.toLowerCase(), i]));
    let latest = status;
    // Unplug first: a device leaving frees what a device arriving may need.
    for (const gone of interfacesOfDomainXml(status.domainXml)) {
      if (!want.has(gone.macAddress)) latest = await this.o.driver.detachInterface(spec.uuid, gone);
    }
    const have = new Set(macsOf(latest.domainXml));
    for (const [mac, iface] of want) {
      if (!have.has(mac)) latest = await this.o.driver.attachInterface(spec.uuid, iface);
    }
    return latest;
  }

  private async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let backoff = 200;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!this.running) throw err;
        this.o.log.warn({ err, host: this.host }, `${what} failed; retrying in ${backoff} ms`);
        await sleep(backoff, this.stopping.signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }
}
