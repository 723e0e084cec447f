import type { Conflict } from '../errors.js';
import { invalidState } from './invalidState.js';

/**
 * Nova's `check_instance_state` (nova/compute/api.py): the vm_state must be
 * one of `vmStates`, the task_state one of `taskStates` (null = none), and
 * the server must have launched once; checked in that order, and the first
 * that fails names itself in the 409 ("… while it is in <attr> <state>").
 * A list left out is not checked.
 */
export interface StateRule {
  vmStates?: readonly string[];
  taskStates?: readonly (string | null)[];
  /** Nova's default is true. */
  mustHaveLaunched?: boolean;
}

export interface GuardedServer {
  uuid: string;
  vmState: string;
  taskState: string | null;
  launchedAt: string | null;
}

/** The refusal for `action` on this server, or null when the rule allows it. */
export function stateRefusal(action: string, server: GuardedServer, rule: StateRule): Conflict | null {
  if (rule.vmStates && !rule.vmStates.includes(server.vmState)) return invalidState(action, server, 'vm_state');
  if (rule.taskStates && !rule.taskStates.includes(server.taskState)) return invalidState(action, server, 'task_state');
  if ((rule.mustHaveLaunched ?? true) && !server.launchedAt) return invalidState(action, server, 'launched_at');
  return null;
}

/** Throws stateRefusal's 409; nothing changed. */
export function requireStateRule(action: string, server: GuardedServer, rule: StateRule): void {
  const refusal = stateRefusal(action, server, rule);
  if (refusal) throw refusal;
}
