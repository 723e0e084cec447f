/**
 * A delete that raced a move (found by test/e2e/chaos.test.ts, seed
 * 1498040216): the delete read the server's guests, the move's placement then
 * committed a guest on its destination, and the delete told only the source's
 * guest to go. The destination's guest stayed wanted `running`, so the server
 * sat in `deleting` until operation_timeout and ended in ERROR holding claims
 * on a host it was not on. The race is one of timing; its outcome is a state,
 * written here as the delete left it, and the engine must finish the delete
 * from it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../src/domain/lifecycle/serverStatus.js';
import { serverQueueOf } from '../../src/controller/operations/serverQueue.js';
import { getGuest, setDesiredGuest } from '../../src/storage/repositories/guests.js';
import { updateInstance } from '../../src/storage/repositories/instances.js';
import { boot, free, HOSTS, server, startRig, until, waitStatus, type Rig } from '../helpers/simulatedRig.js';

describe('a delete that missed a guest of a move', () => {
  let rig: Rig;
  before(async () => { rig = await startRig(); });
  after(() => rig.stop());

  test('the guest wanted again is told to go and the delete finishes, every device free', async () => {
    const s = await boot(rig, 'raced');
    assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null })).status, 202);
    const moved = await waitStatus(rig, s.id, ['VERIFY_RESIZE']);
    const dest = moved['OS-EXT-SRV-ATTR:host'] as string;
    assert.notEqual(dest, s.host);

    // What the racing delete wrote: deleting, and only the guest it had read (the source's) told to go.
    const { ctx } = rig.tc;
    await ctx.store.transact(async (trx) => {
      assert.ok(await updateInstance(trx, s.id, { taskState: TaskState.DELETING }));
      const source = await getGuest(trx, s.id, s.host);
      await setDesiredGuest(trx, s.id, s.host, 'absent', JSON.parse(source!.spec));
    });
    ctx.signals.notify(s.host);
    serverQueueOf(ctx).enqueue(s.id);

    await until('the server gone', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404, 10_000)
      .catch(async (e) => { throw new Error(`${(e as Error).message}: ${JSON.stringify(await server(rig, s.id))}`); });
    await until('every device free', async () => (await Promise.all(HOSTS.map((h) => free(rig, h)))).every((n) => n === 5));
    assert.equal(await rig.drivers.get(dest)!.status(s.id), null, 'the destination\'s guest is gone from its host');
  });
});
