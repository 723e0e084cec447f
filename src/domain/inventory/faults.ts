/**
 * Fault injection for simulated hosts (a lab and test feature): an inventory
 * host's `faults` object makes its simulated hypervisor fail, or never
 * answer, one kind of operation. Pure: parsing and the per-host plan only.
 */

/** The virt driver operations a fault can target, as the inventory names them. */
export const FAULT_OPERATIONS = [
  'spawn', 'destroy', 'power_off', 'power_on', 'suspend', 'resume',
  'attach_interface', 'detach_interface', 'live_migrate', 'reboot', 'pause', 'unpause',
  'rebuild', 'rescue', 'unrescue', 'snapshot',
  'console_log',
] as const;

export type FaultOperation = (typeof FAULT_OPERATIONS)[number];

/**
 * One operation's fault: fail with `message`, or (hang) never answer; for the
 * first `times` calls only, or for every call when `times` is null.
 */
export interface FaultSpec {
  message: string | null;
  hang: boolean;
  times: number | null;
}

export type HostFaults = Partial<Record<FaultOperation, FaultSpec>>;

/** The raw shape the schema has already checked: a message, or {message?, hang?, times?}. */
export type RawFault = string | { message?: string; hang?: boolean; times?: number };

/**
 * Turns the schema-checked `faults` object into specs. What JSON Schema
 * cannot say clearly (exactly one of message and hang) is checked here, and
 * `fail` receives the field and the problem.
 */
export function parseHostFaults(raw: Record<string, RawFault>, fail: (field: string, problem: string) => never): HostFaults {
  const faults: HostFaults = {};
  for (const op of FAULT_OPERATIONS) {
    const f = raw[op];
    if (f === undefined) continue;
    if (typeof f === 'string') {
      faults[op] = { message: f, hang: false, times: null };
      continue;
    }
    const hang = f.hang === true;
    if (hang && f.message !== undefined) fail(op, 'give either "message" or "hang": true, not both');
    if (!hang && f.message === undefined) fail(op, 'needs "message" (the error the operation fails with) or "hang": true');
    faults[op] = { message: hang ? null : f.message!, hang, times: f.times ?? null };
  }
  return faults;
}

/**
 * A host's faults as they run: each call of an operation takes one of its
 * `times`, so "fail twice, then work" holds across guests and retries.
 */
export class FaultPlan {
  private readonly used = new Map<FaultOperation, number>();

  constructor(private readonly faults: HostFaults) {}

  /** The fault this call of `op` meets, or null when it goes through. */
  take(op: FaultOperation): FaultSpec | null {
    const fault = this.faults[op];
    if (!fault) return null;
    const used = this.used.get(op) ?? 0;
    if (fault.times !== null && used >= fault.times) return null;
    this.used.set(op, used + 1);
    return fault;
  }
}
