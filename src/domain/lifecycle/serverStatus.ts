/** Nova's vm_state values. */
export const VmState = {
  BUILDING: 'building',
  ACTIVE: 'active',
  STOPPED: 'stopped',
  PAUSED: 'paused',
  SUSPENDED: 'suspended',
  RESIZED: 'resized',
  ERROR: 'error',
  SHELVED: 'shelved',
  SHELVED_OFFLOADED: 'shelved_offloaded',
  DELETED: 'deleted',
  RESCUED: 'rescued',
} as const;
export type VmStateValue = (typeof VmState)[keyof typeof VmState];

/** The task states this control plane uses (a subset of Nova's, same spelling). */
export const TaskState = {
  SCHEDULING: 'scheduling',
  SPAWNING: 'spawning',
  DELETING: 'deleting',
  RESIZE_PREP: 'resize_prep',
  RESIZE_MIGRATING: 'resize_migrating',
  RESIZE_FINISH: 'resize_finish',
  RESIZE_REVERTING: 'resize_reverting',
  RESIZE_CONFIRMING: 'resize_confirming',
  MIGRATING: 'migrating',
  REBUILD_SPAWNING: 'rebuild_spawning',
  SHELVING: 'shelving',
  SHELVING_OFFLOADING: 'shelving_offloading',
  UNSHELVING: 'unshelving',
  SUSPENDING: 'suspending',
  RESUMING: 'resuming',
  POWERING_OFF: 'powering-off',
  POWERING_ON: 'powering-on',
  ATTACHING_INTERFACE: 'attaching_interface',
  // Rebuild, rescue and snapshot (lifecycle/rebuild.ts, rescue.ts, snapshot.ts).
  REBUILDING: 'rebuilding',
  REBUILD_BLOCK_DEVICE_MAPPING: 'rebuild_block_device_mapping',
  RESCUING: 'rescuing',
  UNRESCUING: 'unrescuing',
  IMAGE_SNAPSHOT_PENDING: 'image_snapshot_pending',
  IMAGE_SNAPSHOT: 'image_snapshot',
  IMAGE_PENDING_UPLOAD: 'image_pending_upload',
  IMAGE_UPLOADING: 'image_uploading',
  DETACHING_INTERFACE: 'detaching_interface',
  REBOOTING: 'rebooting',
  REBOOT_PENDING: 'reboot_pending',
  REBOOT_STARTED: 'reboot_started',
  REBOOTING_HARD: 'rebooting_hard',
  REBOOT_PENDING_HARD: 'reboot_pending_hard',
  REBOOT_STARTED_HARD: 'reboot_started_hard',
  PAUSING: 'pausing',
  UNPAUSING: 'unpausing',
} as const;
export type TaskStateValue = (typeof TaskState)[keyof typeof TaskState];

/** Nova's three rebuild task states: REBUILD over active, stopped and error. */
const REBUILD_TASKS = new Set<string>([
  TaskState.REBUILDING, TaskState.REBUILD_BLOCK_DEVICE_MAPPING, TaskState.REBUILD_SPAWNING,
]);

const RESIZE_TASKS = new Set<string>([
  TaskState.RESIZE_PREP, TaskState.RESIZE_MIGRATING, TaskState.RESIZE_FINISH,
]);
const SOFT_REBOOT_TASKS = new Set<string>([TaskState.REBOOTING, TaskState.REBOOT_PENDING, TaskState.REBOOT_STARTED]);
const HARD_REBOOT_TASKS = new Set<string>([TaskState.REBOOTING_HARD, TaskState.REBOOT_PENDING_HARD, TaskState.REBOOT_STARTED_HARD]);

/** The API `status` of a server, from its vm_state and task_state (Nova's state map). */
export function serverStatus(vmState: string, taskState: string | null): string {
  switch (vmState) {
    case VmState.BUILDING: return 'BUILD';
    case VmState.ACTIVE:
      if (taskState && RESIZE_TASKS.has(taskState)) return 'RESIZE';
      if (taskState === TaskState.MIGRATING) return 'MIGRATING';
      if (taskState && REBUILD_TASKS.has(taskState)) return 'REBUILD';
      if (taskState && SOFT_REBOOT_TASKS.has(taskState)) return 'REBOOT';
      if (taskState && HARD_REBOOT_TASKS.has(taskState)) return 'HARD_REBOOT';
      return 'ACTIVE';
    case VmState.STOPPED:
      if (taskState && RESIZE_TASKS.has(taskState)) return 'RESIZE';
      if (taskState && REBUILD_TASKS.has(taskState)) return 'REBUILD';
      return 'SHUTOFF';
    case VmState.RESIZED:
      return taskState === TaskState.RESIZE_REVERTING ? 'REVERT_RESIZE' : 'VERIFY_RESIZE';
    case VmState.PAUSED: return taskState === TaskState.MIGRATING ? 'MIGRATING' : 'PAUSED';
    case VmState.SUSPENDED: return 'SUSPENDED';
    case VmState.ERROR: return taskState && REBUILD_TASKS.has(taskState) ? 'REBUILD' : 'ERROR';
    case VmState.RESCUED: return 'RESCUE';
    case VmState.SHELVED: return 'SHELVED';
    case VmState.SHELVED_OFFLOADED: return 'SHELVED_OFFLOADED';
    case VmState.DELETED: return 'DELETED';
    default: return 'UNKNOWN';
  }
}
