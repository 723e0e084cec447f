import { BUILD } from '../lifecycle/build.js';
import { COLD_MOVE_OPERATION } from '../lifecycle/coldMove.js';
import { DELETE } from '../lifecycle/delete.js';
import { INTERFACE_OPERATION } from '../lifecycle/interfaces.js';
import { LIVE_MIGRATION_OPERATION } from '../lifecycle/liveMigration.js';
import { START_OPERATION, STOP_OPERATION } from '../lifecycle/power.js';
import { SHELVE_OFFLOAD_OPERATION, SHELVE_OPERATION } from '../lifecycle/shelve.js';
import { REBUILD_OPERATION } from '../lifecycle/rebuild.js';
import { RESCUE_OPERATION, UNRESCUE_OPERATION } from '../lifecycle/rescue.js';
import { SNAPSHOT_OPERATION } from '../lifecycle/snapshot.js';
import { RESUME_OPERATION, SUSPEND_OPERATION } from '../lifecycle/suspend.js';
import { UNSHELVE_OPERATION } from '../lifecycle/unshelve.js';
import { HARD_REBOOT_OPERATION, SOFT_REBOOT_OPERATION } from '../lifecycle/reboot.js';
import { PAUSE_OPERATION, UNPAUSE_OPERATION } from '../lifecycle/pause.js';
import type { Operation } from './transitions.js';

const OPERATIONS = (): Operation[] => [
  BUILD, DELETE, STOP_OPERATION, START_OPERATION, SUSPEND_OPERATION, RESUME_OPERATION, SHELVE_OPERATION,
  UNSHELVE_OPERATION, COLD_MOVE_OPERATION, LIVE_MIGRATION_OPERATION, INTERFACE_OPERATION,
  SOFT_REBOOT_OPERATION, HARD_REBOOT_OPERATION, PAUSE_OPERATION, UNPAUSE_OPERATION,
  // Rebuild owns the rebuild task states and hands an evacuating server to evacuate's rows (rebuild.ts).
  REBUILD_OPERATION, RESCUE_OPERATION, UNRESCUE_OPERATION, SNAPSHOT_OPERATION, SHELVE_OFFLOAD_OPERATION,
];

let byTaskState: Map<string, Operation> | null = null;

/**
 * The operation that owns a task state: the one whose transition table has
 * rows for it. Built on first use, because the operation modules import the
 * engine (to queue servers) and so are still loading when this module is.
 */
export function operationFor(taskState: string | null): Operation | undefined {
  if (!taskState) return undefined;
  if (!byTaskState) {
    byTaskState = new Map();
    for (const op of OPERATIONS()) {
      for (const t of op.transitions) {
        const owner = byTaskState.get(t.state);
        if (owner && owner !== op) throw new Error(`task state ${t.state} belongs to both ${owner.action} and ${op.action}`);
        byTaskState.set(t.state, op);
      }
    }
  }
  return byTaskState.get(taskState);
}

/** Task states no operation advances (a test keeps this empty for every state servers can be in). */
export function unownedTaskStates(states: readonly string[]): string[] {
  return states.filter((s) => !operationFor(s));
}
