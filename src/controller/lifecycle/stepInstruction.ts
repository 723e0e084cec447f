import type { GuestSpec } from '../../domain/guest/spec.js';
import type { DesiredGuestState } from '../../protocol/agentProtocol.js';
import { setDesiredGuest } from '../../storage/repositories/guests.js';
import { updateInstance } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';

/**
 * A step's next instruction to a host, written only while the server is
 * still in the step's task state: a delete accepted since the step's
 * snapshot was read has asked every guest to go, and an unconditional
 * upsert would bring one back (a guest of no server, or one the delete waits
 * for until its deadline). The conditional update orders this write and the
 * delete's on the instance row, and starts the step's deadline.
 */
export async function instructWhileInTask(
  ctx: ControllerContext, uuid: string, taskState: string, host: string, desired: DesiredGuestState, spec: GuestSpec,
): Promise<void> {
  const written = await ctx.store.transact(async (trx) => {
    if (!(await updateInstance(trx, uuid, { stepStarted: true }, { taskState }))) return false;
    await setDesiredGuest(trx, uuid, host, desired, spec);
    return true;
  });
  if (written) ctx.signals.notify(host);
}
