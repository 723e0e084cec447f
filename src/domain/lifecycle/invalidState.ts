import { Conflict } from '../errors.js';

/**
 * Nova's answer to an action on a server in the wrong state (409,
 * `raise_http_conflict_for_instance_invalid_state`): "Cannot '<action>'
 * instance <id> while it is in <attr> <state>". The one place its texts are
 * written. `attr` says which state is wrong; without it, the task state when
 * one is running, else the vm_state.
 */
export function invalidState(
  action: string,
  instance: { uuid: string; vmState: string; taskState: string | null },
  attr: 'vm_state' | 'task_state' | 'launched_at' = instance.taskState ? 'task_state' : 'vm_state',
): Conflict {
  // launched_at is only ever refused when the server never launched: Python prints that as None.
  const state = attr === 'task_state' ? instance.taskState : attr === 'launched_at' ? 'None' : instance.vmState;
  return new Conflict(`Cannot '${action}' instance ${instance.uuid} while it is in ${attr} ${state}`);
}
