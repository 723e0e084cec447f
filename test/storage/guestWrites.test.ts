/**
 * The single-statement repository writes of the build/delete paths
 * (setDesiredGuest upsert, recordGuestReport returning, finishAction by
 * subquery), on SQLite and PostgreSQL.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { getGuest, recordGuestReport, setDesiredGuest } from '../../src/storage/repositories/guests.js';
import { actionsOf, finishAction, startAction } from '../../src/storage/repositories/actions.js';
import type { GuestSpec } from '../../src/domain/guest/spec.js';
import { startTestController, withPostgresDatabase, type TestController } from '../helpers/testController.js';
import { kysely, asUnit } from '../helpers/storageAccess.js';

const spec = (uuid: string) => ({ uuid, name: 'g' }) as unknown as GuestSpec;

async function checks(c: TestController): Promise<void> {
  const db = kysely(c.ctx.store);
  const host = `batch-${randomUUID().slice(0, 8)}`;
  const a = randomUUID();
  const b = randomUUID();

  // setDesiredGuest: insert, then bump the generation and clear the error; observed columns stay.
  const generation = async (uuid: string) => (await getGuest(asUnit(db), uuid, host))?.generation;
  await setDesiredGuest(asUnit(db), a, host, 'running', spec(a));
  await setDesiredGuest(asUnit(db), b, host, 'running', spec(b));
  assert.deepEqual([await generation(a), await generation(b)], [1, 1]);
  assert.deepEqual(await recordGuestReport(asUnit(db), { host, instanceUuid: a, generation: 1, observedState: null, domainXml: null, error: 'boom' })
    .then((r) => r && { generation: r.generation, observed_generation: r.observed_generation, error: r.error }),
  { generation: 1, observed_generation: 1, error: 'boom' });
  // A repeated report is stale: nothing changes.
  assert.equal(await recordGuestReport(asUnit(db), { host, instanceUuid: a, generation: 1, observedState: 'running', domainXml: null, error: null }), null);
  await setDesiredGuest(asUnit(db), a, host, 'shutoff', spec(a));
  assert.equal(await generation(a), 2);
  const bumped = (await getGuest(asUnit(db), a, host))!;
  assert.deepEqual([bumped.generation, bumped.observed_generation, bumped.desired_state, bumped.error, JSON.parse(bumped.spec).uuid],
    [2, 1, 'shutoff', null, a]);

  // finishAction finishes only the newest open action of that name.
  const uuid = randomUUID();
  const base = { instanceUuid: uuid, requestId: 'req-1', projectId: 'p', userId: 'u' };
  await startAction(asUnit(db), { ...base, action: 'create' });
  await startAction(asUnit(db), { ...base, action: 'stop' });
  await startAction(asUnit(db), { ...base, action: 'create' });
  await finishAction(asUnit(db), uuid, 'create', 'Error', 'no');
  const rows = (await actionsOf(asUnit(db), uuid)).map((r) => [r.action, r.result, r.message, r.finish_time !== null]);
  assert.deepEqual(rows, [['create', 'Error', 'no', true], ['stop', null, null, false], ['create', null, null, false]]);
  await finishAction(asUnit(db), uuid, 'create', 'Success');
  await finishAction(asUnit(db), uuid, 'resize', 'Success'); // none open: nothing happens
  const after = (await actionsOf(asUnit(db), uuid)).map((r) => [r.action, r.result]);
  assert.deepEqual(after, [['create', 'Error'], ['stop', null], ['create', 'Success']]);
}

describe('single-statement guest and action writes', () => {
  test('sqlite', { timeout: 300_000 }, async () => {
    const c = await startTestController();
    try {
      await checks(c);
    } finally {
      await c.close();
    }
  });

  test('postgres', { timeout: 300_000 }, async () => {
    await withPostgresDatabase(async (url) => {
      const c = await startTestController({ databaseUrl: url });
      try {
        await checks(c);
      } finally {
        await c.close();
      }
    });
  });
});
