import { PowerState } from '../../domain/guest/spec.js';
import { TaskState, VmState } from '../../domain/lifecycle/serverStatus.js';
import { updateInstance, type InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import { setPortStatus } from '../../storage/repositories/ports.js';
import type { Unit } from '../../storage/unit.js';

/**
 * The guest a rebuild or an evacuation defined again runs (or stays off, as
 * the server was): the server leaves `rebuild_spawning`. False when another
 * step already moved it on, so the caller writes nothing more.
 */
export async function finishRebuildSpawn(trx: Unit, instance: InstanceRecord, stopped: boolean): Promise<boolean> {
  const done = await updateInstance(trx, instance.uuid, {
    vmState: stopped ? VmState.STOPPED : VmState.ACTIVE, taskState: null,
    powerState: stopped ? PowerState.SHUTDOWN : PowerState.RUNNING, fault: null, launchedAt: nowIso(),
  }, { taskState: TaskState.REBUILD_SPAWNING });
  if (done && !stopped) await setPortStatus(trx, instance.portIds, 'ACTIVE');
  return done;
}
