/**
 * Power-state sync, as Nova's _sync_instance_power_state does it: an agent
 * that finds a guest stopped behind the controller's back (`virsh destroy`,
 * a guest OS that powered itself off, a QEMU that died) reports it, and an
 * idle ACTIVE server on that host becomes SHUTOFF (vm_state stopped, power
 * state shutdown), its guest wanted shut off so nothing starts it again
 * unasked. A server with a task in progress is left to its operation.
 */
import { PowerState } from '../../domain/guest/spec.js';
import { VmState } from '../../domain/lifecycle/serverStatus.js';
import type { PowerStateReport } from '../../protocol/agentProtocol.js';
import { getGuest, guestSpecOf, setDesiredGuest } from '../../storage/repositories/guests.js';
import { getInstance, updateInstance } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';

const STOPPED_BEHIND_OUR_BACK = new Set(['shutoff', 'absent']);

export async function syncPowerState(ctx: ControllerContext, report: PowerStateReport): Promise<void> {
  if (!STOPPED_BEHIND_OUR_BACK.has(report.state)) return;
  let stopped = false;
  await ctx.store.transact(async (trx) => {
    const instance = await getInstance(trx, report.instanceUuid);
    if (!instance || instance.host !== report.host || instance.taskState !== null || instance.vmState !== VmState.ACTIVE) return;
    const guest = await getGuest(trx, instance.uuid, report.host);
    if (!guest || guest.desired_state !== 'running') return;
    if (!(await updateInstance(trx, instance.uuid, { vmState: VmState.STOPPED, powerState: PowerState.SHUTDOWN },
      { taskState: null, vmState: VmState.ACTIVE }))) return;
    await setDesiredGuest(trx, instance.uuid, report.host, 'shutoff', guestSpecOf(guest));
    stopped = true;
  });
  if (!stopped) return;
  ctx.log.info({ server: report.instanceUuid, host: report.host, state: report.state }, 'power-state sync: the guest is not running; server stopped');
  ctx.signals.notify(report.host);
}
