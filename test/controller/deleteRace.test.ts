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
import { TaskState, VmState } from '../../src/domain/lifecycle/serverStatus.js';
import { COLD_MOVE_OPERATION } from '../../src/controller/lifecycle/coldMove.js';
import { EVACUATE_OPERATION } from '../../src/controller/lifecycle/evacuate.js';
import { serverQueueOf } from '../../src/controller/operations/serverQueue.js';
import { getGuest, guestsOfInstance, setDesiredGuest } from '../../src/storage/repositories/guests.js';
import { updateInstance } from '../../src/storage/repositories/instances.js';
import { readServerSnapshot } from '../../src/storage/repositories/operations.js';
import { boot, free, HOSTS, server, startRig, until, waitStatus, type Rig } from '../helpers/simulatedRig.js';
import { kysely, asUnit } from '../helpers/storageAccess.js';

describe('a delete that missed a guest of a move', () => {
  let rig: Rig;
  before(async () => { rig = await startRig(); });
  after(() => rig.stop());

  test('the guest wanted again is told to go and the delete finishes, every device free', { timeout: 120_000 }, async () => {
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

  test('a move\'s step that read its snapshot before a delete finished writes no guest of the deleted server', { timeout: 120_000 }, async () => {
    const s = await boot(rig, 'stale-step');
    assert.equal((await rig.api('POST', `/compute/v2.1/servers/${s.id}/action`, { migrate: null })).status, 202);
    const moved = await waitStatus(rig, s.id, ['VERIFY_RESIZE']);
    const dest = moved['OS-EXT-SRV-ATTR:host'] as string;
    const { ctx } = rig.tc;
    // The snapshot a stopped server's move had when its destination guest came up (the next step shuts it off).
    const rows = (await readServerSnapshot(ctx.store.reader, s.id))!;
    const snapshot = {
      ...rows, now: Date.now(),
      instance: { ...rows.instance, vmState: VmState.STOPPED, taskState: TaskState.RESIZE_MIGRATING },
      migration: { ...rows.migration!, status: 'migrating' },
    };
    const row = COLD_MOVE_OPERATION.transitions.find((t) => t.state === TaskState.RESIZE_MIGRATING && t.when(snapshot));
    assert.ok(row, 'a row of the move matches the snapshot');
    assert.match(row.on, /stopped server/);

    assert.equal((await rig.api('DELETE', `/compute/v2.1/servers/${s.id}`)).status, 204);
    await until('the server gone', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404);
    await row.step(ctx, snapshot);
    assert.deepEqual(await guestsOfInstance(ctx.store.reader, s.id), [], 'no guest row for a server that is gone');
    assert.equal(await rig.drivers.get(dest)!.status(s.id), null);
  });

  test('an evacuation\'s shut-off step that read its snapshot before a delete finished writes no guest either', { timeout: 120_000 }, async () => {
    const s = await boot(rig, 'stale-evacuation');
    const { ctx } = rig.tc;
    // A stopped server rebuilt on its new host, its guest up there: the next step shuts it off.
    const rows = (await readServerSnapshot(ctx.store.reader, s.id))!;
    const snapshot = { ...rows, now: Date.now(), instance: { ...rows.instance, vmState: VmState.STOPPED, taskState: TaskState.REBUILD_SPAWNING } };
    const row = EVACUATE_OPERATION.transitions.find((t) => t.state === TaskState.REBUILD_SPAWNING && t.when(snapshot));
    assert.ok(row, 'a row of the evacuation matches the snapshot');
    assert.match(row.on, /stopped server/);

    assert.equal((await rig.api('DELETE', `/compute/v2.1/servers/${s.id}`)).status, 204);
    await until('the server gone', async () => (await rig.api('GET', `/compute/v2.1/servers/${s.id}`)).status === 404);
    await row.step(ctx, snapshot);
    assert.deepEqual(await guestsOfInstance(ctx.store.reader, s.id), []);
  });
});
