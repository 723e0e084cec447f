/**
 * Power-state sync, as Nova's _sync_instance_power_state does it: an agent
 * that finds a guest stopped behind the controller's back (`virsh destroy`,
 * a guest OS that powered itself off, a QEMU that died) reports it, and an
 * idle ACTIVE server on that host is stopped through the stop operation
 * (power.ts: task powering-off, a `stop` instance action, the guest wanted
 * shut off so nothing starts it again unasked), ending SHUTOFF. A server
 * with a task in progress is left to its operation.
 */
import { randomUUID } from 'node:crypto';
import { DomainError } from '../../domain/errors.js';
import { VmState } from '../../domain/lifecycle/serverStatus.js';
import type { PowerStateReport } from '../../protocol/agentProtocol.js';
import { getGuest } from '../../storage/repositories/guests.js';
import { getInstance } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';
import { startStop } from './power.js';

const STOPPED_BEHIND_OUR_BACK = new Set(['shutoff', 'absent']);

export async function syncPowerState(ctx: ControllerContext, report: PowerStateReport): Promise<void> {
  if (!STOPPED_BEHIND_OUR_BACK.has(report.state)) return;
  const db = ctx.store.reader;
  const instance = await getInstance(db, report.instanceUuid);
  if (!instance || instance.host !== report.host || instance.taskState !== null || instance.vmState !== VmState.ACTIVE) return;
  const guest = await getGuest(db, instance.uuid, report.host);
  if (!guest || guest.desired_state !== 'running') return;
  ctx.log.info({ server: instance.uuid, host: report.host, state: report.state }, 'power-state sync: the guest is not running; stopping the server');
  try {
    await startStop(ctx, { requestId: `req-${randomUUID()}`, projectId: instance.projectId, userId: instance.userId }, instance);
  } catch (e) {
    // Another operation started meanwhile (startStop changes nothing then): it decides.
    if (!(e instanceof DomainError)) throw e;
  }
}
