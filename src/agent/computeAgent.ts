import type { HostNumaTopology } from '../domain/numa/hostTopology.js';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { TrackedDevice } from '../domain/pci/device.js';
import {
  PENDING_GUESTS_PAGE,
  type ConsoleAnswer, type ConsoleRequest, type ControllerLink, type DesiredGuestState, type GuestAssignment, type HostRegistration, type HostVersions, type WorkWatcher,
} from '../protocol/agentProtocol.js';
import { agentClock, type AgentClock, type ClockTarget } from './agentClock.js';
import { ConsoleNotAvailable, type GuestRunState, type GuestStatus, type ListedGuest, type VirtDriver } from './drivers/driver.js';
import { tailLines } from '../domain/guest/consoleLog.js';
import { converge } from './guestConvergence.js';

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
  /**
   * Optional: a token that stays the same as long as devices() would answer
   * the same; a rediscovery that finds it unchanged skips the device walk.
   * Sources that cannot tell (sysfs) leave it out and are walked every time.
   */
  stateToken?(): string;
  /** Optional: the host's NUMA cells and CPU sets (absent: one cell, as before). */
  numaTopology?(): Promise<HostNumaTopology | null>;
}

export interface ComputeAgentOptions {
  identity: HostIdentity;
  discovery: HostDiscovery;
  driver: VirtDriver;
  link: ControllerLink;
  log: Logger;
  heartbeatMs?: number;
  rediscoverMs?: number;
  /** The fallback poll for work (and a remote agent's long-poll timeout); default: set by the agents in the process. */
  pollMs?: number;
  /** Guests worked on at once. */
  concurrency?: number;
  /**
   * How long a work pass waits for its guests before it ends anyway (default
   * 2 s). Operations still running carry on and report when done; their
   * guests are skipped by later passes meanwhile. So a slow or hung operation
   * (a hypervisor that never answers) holds only its own guest, never the
   * agent's work on the others.
   */
  passPatienceMs?: number;
  /** Whose timer runs the periodic jobs; default: the one clock of the process. */
  clock?: AgentClock;
  /**
   * Power-state sync with every heartbeat (real hypervisors): a guest whose
   * state changed without an instruction (stopped with `virsh destroy`, QEMU
   * gone) is reported with reportPowerState, as Nova's _sync_power_states does.
   */
  powerSync?: boolean;
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

/** The agent's periodic jobs, as the clock knows them. */
const HEARTBEAT = 0;
const POLL = 1;
const REDISCOVER = 2;

/**
 * A compute agent: registers its host, reports devices and heartbeats, and
 * makes each guest the controller places here match its desired state. It is
 * level-triggered: after a restart it re-reads every assignment and converges,
 * and each step is idempotent, so nothing is lost or done twice.
 *
 * Its periodic jobs (heartbeat, work poll, rediscovery) are entries on the
 * process's AgentClock rather than a loop and timer each: an idle agent is
 * this object and three clock entries, which is what lets one process run
 * 10,000 of them.
 */
export class ComputeAgent implements ClockTarget, WorkWatcher {
  private running = false;
  /** Clock slots of the scheduled jobs (0: not scheduled). */
  private heartbeatSlot = 0;
  private pollSlot = 0;
  private rediscoverSlot = 0;
  /** A work pass (pendingGuests, then applying them) is running. */
  private polling = false;
  /** Work may have arrived during the pass: poll again right after it. */
  private pollAgain = false;
  private pollBackoff = 100;
  /** Bumped when an outstanding waitForWork no longer matters. */
  private waitEpoch = 0;
  /** Jobs running now; stop() waits for them. */
  private active = 0;
  private drained: Promise<void> | null = null;
  private resolveDrained: (() => void) | null = null;
  /** Made on first need (a retry that must wake up when the agent stops). */
  private stopping: AbortController | null = null;
  private inFlight: Set<string> | null = null;
  /** Domains not ours that were logged as left alone (made on first need). */
  private ignored: Set<string> | null = null;
  /** Console requests being read now (made on first need). */
  private readingConsoles: Set<string> | null = null;
  private lastInventoryKey = '';
  /** The discovery's stateToken when lastInventoryKey was reported. */
  private reportedToken: string | undefined = undefined;
  private counted = false;
  private readonly clock: AgentClock;
  /** With powerSync: each guest's state as last reported (an instruction's answer or a sync). */
  private readonly seen: Map<string, GuestRunState> | null;

  constructor(private readonly o: ComputeAgentOptions) {
    this.clock = o.clock ?? agentClock;
    this.seen = o.powerSync ? new Map() : null;
  }

  get host(): string {
    return this.o.identity.host;
  }

  async start(): Promise<void> {
    this.running = true;
    if (!this.counted) {
      this.counted = true;
      agentsInProcess += 1;
    }
    await this.withRetry('register', () => registrations.run(() => this.register()));
    await this.withRetry('reconcile', () => this.reconcileAll());
    if (!this.running) return;
    // The first runs at a random point of the period: agents started together (the all-in-one starts
    // them 128 at a time) would otherwise heartbeat and rediscover in bursts, forever.
    this.schedule(HEARTBEAT, Math.random() * (this.o.heartbeatMs ?? 10_000));
    this.schedule(REDISCOVER, Math.random() * (this.o.rediscoverMs ?? 60_000));
    this.o.link.watchWork?.(this.host, this);
    void this.pollWork();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.counted) {
      this.counted = false;
      agentsInProcess -= 1;
    }
    this.stopping?.abort();
    this.stopping = null;
    this.unschedule(HEARTBEAT);
    this.unschedule(POLL);
    this.unschedule(REDISCOVER);
    this.o.link.unwatchWork?.(this.host, this);
    this.waitEpoch += 1;
    if (this.active === 0) return;
    this.drained ??= new Promise<void>((resolve) => { this.resolveDrained = resolve; });
    await this.drained;
  }

  /** Runs discovery now (devices that came or went since the last run) and reports the result. */
  async rediscover(): Promise<void> {
    const token = this.o.discovery.stateToken?.();
    if (token !== undefined && token === this.reportedToken) return;
    const { devices } = await this.o.discovery.devices();
    const key = inventoryKey(devices);
    if (key !== this.lastInventoryKey) {
      await this.o.link.reportInventory({ host: this.host, devices });
      this.lastInventoryKey = key;
    }
    this.reportedToken = token;
  }

  /** From the clock: one of the periodic jobs is due. */
  onTick(kind: number): void {
    this.setSlot(kind, 0);
    if (!this.running) return;
    if (kind === HEARTBEAT) {
      void this.periodic(HEARTBEAT, this.o.heartbeatMs ?? 10_000, 'heartbeat', async () => {
        await this.o.link.heartbeat(this.host);
        await this.syncPowerStates();
      });
    }
    else if (kind === REDISCOVER) void this.periodic(REDISCOVER, this.o.rediscoverMs ?? 60_000, 'rediscovery', () => this.rediscover());
    else void this.pollWork();
  }

  /** From an in-process link: there may be new work for this host. */
  workMayBeWaiting(): void {
    // Not on the notifier's stack: it is the controller, perhaps mid-transaction.
    if (this.running) queueMicrotask(() => void this.pollWork());
  }

  private async register(): Promise<void> {
    const token = this.o.discovery.stateToken?.();
    const versions = await this.o.discovery.versions();
    const { devices, vdpaUnsupportedReason } = await this.o.discovery.devices();
    if (vdpaUnsupportedReason) this.o.log.warn({ host: this.host }, `vDPA disabled on this host: ${vdpaUnsupportedReason}`);
    const numaTopology = (await this.o.discovery.numaTopology?.()) ?? null;
    const reg: HostRegistration = { ...this.o.identity, versions, vdpaUnsupportedReason, ...(numaTopology ? { numaTopology } : {}) };
    await this.o.link.registerHost(reg);
    await this.o.link.reportInventory({ host: this.host, devices });
    this.lastInventoryKey = inventoryKey(devices);
    this.reportedToken = token;
  }

  /**
   * Guests of this host's that the controller no longer places here are
   * removed (e.g. after an evacuation). Only owned guests (ownership metadata
   * of this host, domain/guest/ownership.ts) are: a domain another tool or
   * the operator made, or another host's on a shared libvirtd, is left alone.
   * A guest without metadata that the controller places here was defined by
   * an earlier version: it is adopted (marked as this host's), so a later
   * evacuation can clean it up. One without metadata the controller does not
   * place here may be anyone's: left alone too.
   */
  private async reconcileAll(): Promise<void> {
    const assignments = await this.o.link.allGuests(this.host);
    const wanted = new Map(assignments.map((a) => [a.instanceUuid, a]));
    for (const g of await this.o.driver.list()) {
      const a = wanted.get(g.uuid);
      if (g.ownership === 'owned') {
        if (a) continue;
        this.o.log.info({ host: this.host, server: g.uuid }, 'removing a guest this host no longer owns');
        await this.o.driver.destroy(g.uuid);
      } else if (g.ownership === 'unmarked' && a) {
        // Going anyway: nothing to adopt.
        if (a.desiredState === 'absent' || !this.o.driver.adopt) continue;
        const ids = { host: this.host, server: g.uuid, domain: g.name };
        this.o.log.info(ids, 'adopting a guest defined before domains carried ownership metadata');
        // Not a reason to hold up the agent: unmarked, it stays this host's while the controller places it here.
        await this.o.driver.adopt(a.spec).catch((err) => this.o.log.warn({ ...ids, err }, 'adopting the guest failed; the next start tries again'));
      } else {
        this.leaveAlone(g, a !== undefined);
      }
    }
    await this.applyAll(assignments);
  }

  /** Logged once per domain: reconcile and power-state sync never act on it. */
  private leaveAlone(g: ListedGuest, placedHere: boolean): void {
    const ignored = (this.ignored ??= new Set());
    if (ignored.has(g.uuid)) return;
    ignored.add(g.uuid);
    const ids = { host: this.host, domainUuid: g.uuid, domain: g.name };
    if (placedHere) {
      // The controller's placement is an instruction: the guest is converged, but not claimed as this host's.
      this.o.log.warn(ids, 'the controller places here a guest whose libvirt domain is marked as another host\'s; not adopted');
    } else if (g.ownership === 'foreign') {
      this.o.log.warn(ids, 'ignoring a libvirt domain whose vdpa-compute metadata names another host or another domain');
    } else {
      this.o.log.warn(ids, 'ignoring a libvirt domain vdpa-compute did not create');
    }
  }

  /**
   * Reports every guest whose state on the hypervisor is not the one last
   * reported. A guest with an instruction in flight, or whose state was
   * reported while the hypervisor was being asked, is left for the next round:
   * the listing may predate that answer.
   */
  async syncPowerStates(): Promise<void> {
    const seen = this.seen;
    const report = this.o.link.reportPowerState?.bind(this.o.link);
    if (!seen || !report || seen.size === 0) return;
    const before = new Map(seen);
    const now = new Map<string, GuestRunState>();
    // Another host's domain with one of our guests' uuids (a shared libvirtd) says nothing of our guest.
    const elsewhere = new Set<string>();
    for (const g of await this.o.driver.list()) {
      if (g.ownership === 'foreign') elsewhere.add(g.uuid);
      else now.set(g.uuid, g.state);
    }
    for (const [uuid, was] of before) {
      if (this.inFlight?.has(uuid) || seen.get(uuid) !== was || elsewhere.has(uuid)) continue;
      const state = now.get(uuid) ?? 'absent';
      if (state === was) continue;
      this.o.log.info({ host: this.host, server: uuid, was, now: state }, 'power-state sync: the guest changed on the hypervisor');
      await report({ host: this.host, instanceUuid: uuid, state });
      if (state === 'absent') seen.delete(uuid);
      else seen.set(uuid, state);
    }
  }

  /** A periodic job (heartbeat, rediscovery): a failure is logged and the job runs again next period. */
  private async periodic(kind: number, periodMs: number, what: string, job: () => Promise<unknown>): Promise<void> {
    this.active += 1;
    try {
      await job();
    } catch (err) {
      this.o.log.warn({ err, host: this.host }, `${what} failed; will retry`);
    } finally {
      this.settle();
    }
    if (this.running) this.schedule(kind, periodMs);
  }

  /**
   * One work pass: the pending guests, applied; then at once another pass if
   * the answer was a full page (or a wake-up came meanwhile), else idle until
   * woken or the fallback poll.
   */
  private async pollWork(): Promise<void> {
    if (!this.running) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = true;
    this.pollAgain = false;
    this.unschedule(POLL);
    this.waitEpoch += 1;
    this.active += 1;
    let retryMs = 0;
    try {
      const pending = await this.o.link.pendingGuests(this.host);
      if (pending.length > 0) await this.applyAll(pending);
      await this.answerConsoleRequests();
      // New work during the pass arrives as a wake-up (pollAgain) or waits in the controller's
      // signal latch for the next waitForWork; asking again after every pass would double the polls.
      if (pending.length >= PENDING_GUESTS_PAGE) this.pollAgain = true;
      this.pollBackoff = 100;
    } catch (err) {
      retryMs = this.pollBackoff;
      this.o.log.warn({ err, host: this.host }, `controller unreachable; retrying in ${retryMs} ms`);
      this.pollBackoff = Math.min(this.pollBackoff * 2, 30_000);
    } finally {
      this.polling = false;
      this.settle();
    }
    if (!this.running) return;
    if (retryMs > 0) {
      this.pollAgain = false;
      this.schedule(POLL, retryMs);
    } else if (this.pollAgain) {
      void this.pollWork();
    } else {
      this.idle();
    }
  }

  /** Until woken (signal or long poll) or the fallback poll, whichever comes first. */
  private idle(): void {
    const pollMs = this.o.pollMs ?? fallbackPollMs();
    if (this.o.link.watchWork) {
      // Spread like the heartbeats, with the same mean.
      this.schedule(POLL, pollMs * (0.5 + Math.random()));
      return;
    }
    this.schedule(POLL, pollMs);
    const epoch = this.waitEpoch;
    this.o.link.waitForWork(this.host, pollMs).then(
      () => { if (epoch === this.waitEpoch) void this.pollWork(); },
      // A failed long poll changes nothing: the fallback poll runs, and reports the outage if it lasts.
      () => {},
    );
  }

  private schedule(kind: number, delayMs: number): void {
    this.unschedule(kind);
    this.setSlot(kind, this.clock.schedule(this, kind, delayMs));
  }

  private unschedule(kind: number): void {
    const slot = this.slotOf(kind);
    if (slot === 0) return;
    this.clock.cancel(this, kind, slot);
    this.setSlot(kind, 0);
  }

  private slotOf(kind: number): number {
    return kind === HEARTBEAT ? this.heartbeatSlot : kind === POLL ? this.pollSlot : this.rediscoverSlot;
  }

  private setSlot(kind: number, slot: number): void {
    if (kind === HEARTBEAT) this.heartbeatSlot = slot;
    else if (kind === POLL) this.pollSlot = slot;
    else this.rediscoverSlot = slot;
  }

  private settle(): void {
    this.active -= 1;
    if (this.active === 0 && this.resolveDrained) {
      this.resolveDrained();
      this.resolveDrained = null;
      this.drained = null;
    }
  }

  /**
   * Console logs the controller asked of this host: each read through the
   * driver and answered on its own, so a slow read holds up nothing else.
   */
  private async answerConsoleRequests(): Promise<void> {
    const link = this.o.link;
    if (!link.pendingConsoleRequests || !link.answerConsoleRequest) return;
    const reading = (this.readingConsoles ??= new Set());
    let requests: ConsoleRequest[];
    try {
      requests = await link.pendingConsoleRequests(this.host);
    } catch (err) {
      // Never a reason to hold up guest work (a controller without the call, a blip): the asker times out.
      this.o.log.debug({ err, host: this.host }, 'console requests unavailable');
      return;
    }
    for (const r of requests) {
      if (reading.has(r.id)) continue;
      reading.add(r.id);
      void this.answerConsole(r).finally(() => reading.delete(r.id));
    }
  }

  private async answerConsole(r: ConsoleRequest): Promise<void> {
    let answer: ConsoleAnswer;
    try {
      if (!this.o.driver.consoleLog) throw new ConsoleNotAvailable();
      answer = { host: this.host, id: r.id, output: tailLines(await this.o.driver.consoleLog(r.instanceUuid), r.lines), error: null, notAvailable: false };
    } catch (err) {
      const notAvailable = err instanceof ConsoleNotAvailable;
      answer = { host: this.host, id: r.id, output: null, error: notAvailable ? null : (err as Error).message, notAvailable };
    }
    await this.o.link.answerConsoleRequest!(answer).catch((err) => {
      this.o.log.warn({ err, host: this.host, server: r.instanceUuid }, 'console log answer failed; the controller will time out');
    });
  }

  /** Applies the assignments; returns when they are done or the pass's patience runs out, whichever is first. */
  private async applyAll(assignments: GuestAssignment[]): Promise<void> {
    const limit = this.o.concurrency ?? 64;
    const inFlight = (this.inFlight ??= new Set());
    const queue = assignments.filter((a) => !inFlight.has(a.instanceUuid));
    if (queue.length === 0) return;
    const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let a = queue.shift(); a; a = queue.shift()) await this.apply(a);
    });
    const all = Promise.all(workers);
    // Once the pass has moved on nobody awaits `all`; a failure then (a report refused while
    // stopping) must not become an unhandled rejection.
    all.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const patience = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), this.o.passPatienceMs ?? 2_000); });
    let finished: boolean;
    try {
      finished = await Promise.race([all.then(() => true), patience]);
    } finally {
      clearTimeout(timer);
    }
    if (!finished) {
      this.o.log.info({ host: this.host, running: inFlight.size }, 'guest operations still running; the agent carries on with its other work');
    }
  }

  private async apply(a: GuestAssignment): Promise<void> {
    const inFlight = (this.inFlight ??= new Set());
    inFlight.add(a.instanceUuid);
    try {
      let status: GuestStatus | null = null;
      let error: string | null = null;
      const ids = { reqId: a.requestId, host: this.host, server: a.instanceUuid, generation: a.generation };
      this.o.log.debug({ ...ids, desired: a.desiredState }, 'guest operation');
      try {
        status = await converge(this.o.driver, this.host, a.spec, a.desiredState, this.o.link);
      } catch (err) {
        error = (err as Error).message;
        this.o.log.warn({ ...ids, err: error }, 'guest operation failed');
      }
      await this.withRetry('report', () => this.o.link.reportGuest({
        host: this.host,
        instanceUuid: a.instanceUuid,
        generation: a.generation,
        observedState: error ? null : (status?.state ?? 'absent') as DesiredGuestState,
        domainXml: status?.domainXml ?? null,
        error,
        ...(a.requestId ? { requestId: a.requestId } : {}),
      }));
      if (this.seen && !error) {
        const state = status?.state ?? 'absent';
        if (state === 'absent') this.seen.delete(a.instanceUuid);
        else this.seen.set(a.instanceUuid, state);
      }
    } finally {
      inFlight.delete(a.instanceUuid);
    }
  }


  private async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let backoff = 200;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (!this.running) throw err;
        this.o.log.warn({ err, host: this.host }, `${what} failed; retrying in ${backoff} ms`);
        await sleep(backoff, (this.stopping ??= new AbortController()).signal);
        backoff = Math.min(backoff * 2, 30_000);
      }
    }
  }
}
