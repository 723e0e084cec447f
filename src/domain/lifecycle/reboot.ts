/**
 * Reboot's rules as Nova 26 has them (nova/compute/api.py `reboot`,
 * `_soft_reboot`, `_hard_reboot`; nova/compute/{vm,task}_states.py).
 *
 *   type | vm_state                                   | task_state                          | API sets
 *   SOFT | active                                     | none                                | rebooting
 *   HARD | active, stopped, paused, suspended, error  | none, rebooting, reboot_pending,    | rebooting_hard
 *        |                                            | reboot_started, rebooting_hard,     |
 *        |                                            | resuming, unpausing, pausing,       |
 *        |                                            | suspending                          |
 *
 * Both need a launched server. The outer check (`reboot`) allows the union of
 * both rows, then the type's own; every refusal reads "Cannot 'reboot' …".
 * A hard reboot may so overtake a soft one, or a pause/suspend in flight,
 * until the compute host has started it (reboot_pending_hard and later).
 */
import { TaskState, VmState } from './serverStatus.js';
import { requireStateRule, type GuardedServer } from './stateGuard.js';

export type RebootType = 'SOFT' | 'HARD';

/** The spellings Nova's schema accepts for `reboot.type`. */
const REBOOT_TYPES: Record<string, RebootType> = {
  SOFT: 'SOFT', Soft: 'SOFT', soft: 'SOFT', HARD: 'HARD', Hard: 'HARD', hard: 'HARD',
};

export function rebootTypeOf(value: unknown): RebootType | null {
  return typeof value === 'string' && Object.hasOwn(REBOOT_TYPES, value) ? REBOOT_TYPES[value]! : null;
}

export const SOFT_REBOOT_VM_STATES: readonly string[] = [VmState.ACTIVE];
export const HARD_REBOOT_VM_STATES: readonly string[] = [
  VmState.ACTIVE, VmState.STOPPED, VmState.PAUSED, VmState.SUSPENDED, VmState.ERROR,
];
/** task_states.ALLOW_REBOOT. */
export const HARD_REBOOT_TASK_STATES: readonly (string | null)[] = [
  null, TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED, TaskState.REBOOTING_HARD,
  TaskState.RESUMING, TaskState.UNPAUSING, TaskState.PAUSING, TaskState.SUSPENDING,
];

/** Throws Nova's 409 unless a reboot of this type may start now. */
export function requireRebootable(server: GuardedServer, type: RebootType): void {
  requireStateRule('reboot', server, { vmStates: HARD_REBOOT_VM_STATES, taskStates: HARD_REBOOT_TASK_STATES });
  if (type === 'SOFT') requireStateRule('reboot', server, { vmStates: SOFT_REBOOT_VM_STATES, taskStates: [null] });
}

/** The task state the API records for a reboot of this type. */
export function rebootTaskState(type: RebootType): string {
  return type === 'HARD' ? TaskState.REBOOTING_HARD : TaskState.REBOOTING;
}
