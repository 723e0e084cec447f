/** GET /compute/v2.1/os-vdpa-doctor: the doctor's audit for admins, read only; members get the compute 403. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestController } from '../helpers/testController.js';
import { kysely } from '../helpers/storageAccess.js';

test('os-vdpa-doctor: admin 200 with the findings (nothing repaired), member 403', { timeout: 60_000 }, async (t) => {
  const tc = await startTestController();
  t.after(() => tc.close());
  const get = async (user: 'admin' | 'demo') => {
    const res = await fetch(`${tc.url}/compute/v2.1/os-vdpa-doctor`, { headers: { 'x-auth-token': await tc.token(user) } });
    return { status: res.status, body: await res.json() as any };
  };

  assert.deepEqual(await get('admin'), { status: 200, body: { findings: [] } });

  await kysely(tc.ctx.store).insertInto('guests').values({
    instance_uuid: 'gone-1', host: 'compute-9', desired_state: 'running', spec: '{}', generation: 1, observed_generation: 1,
    observed_state: 'running', domain_xml: null, error: null, updated_at: new Date().toISOString(),
  }).execute();
  const sick = await get('admin');
  assert.equal(sick.status, 200);
  assert.deepEqual(sick.body.findings.map((f: any) => [f.code, f.ids, typeof f.message, typeof f.fix]),
    [['guest-of-missing-server', { server: 'gone-1', host: 'compute-9' }, 'string', 'string']]);
  assert.deepEqual(Object.keys(sick.body.findings[0]).sort(), ['code', 'fix', 'ids', 'message']);
  // Audit only: the API repairs nothing.
  assert.equal((await kysely(tc.ctx.store).selectFrom('guests').select('host').where('instance_uuid', '=', 'gone-1').execute()).length, 1);

  const member = await get('demo');
  assert.equal(member.status, 403);
  assert.deepEqual(member.body, { forbidden: { code: 403, message: "Policy doesn't allow vdpa-compute:os-vdpa-doctor to be performed." } });
});
