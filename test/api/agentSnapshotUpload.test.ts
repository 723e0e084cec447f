/**
 * The agent API's snapshot upload (PUT /agent/v1/hosts/{host}/guests/{uuid}/snapshots/{image}):
 * a host may give data only to the image its guest's snapshot instruction
 * names; anything else is refused and leaves the image as it was. (The
 * accepted upload is tested end to end in test/e2e/libvirtGuestMoves.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sendJson } from '../helpers/apiClient.js';
import { startTestController, type TestController } from '../helpers/testController.js';

describe('agent API: snapshot data upload', { timeout: 120_000 }, () => {
  let c: TestController;
  before(async () => { c = await startTestController(); });
  after(async () => { await c?.close(); });

  test('data for an image no guest on that host is snapshotting: 409, the image stays queued without data', { timeout: 60_000 }, async () => {
    const token = await c.token('admin');
    const created = await sendJson('POST', `${c.url}/image/v2/images`, token, { name: 'not-a-snapshot', disk_format: 'qcow2', container_format: 'bare' });
    assert.equal(created.status, 201);
    const image = await created.json();
    const r = await fetch(`${c.url}/agent/v1/hosts/compute-0/guests/${randomUUID()}/snapshots/${image.id}`, {
      method: 'PUT', headers: { 'x-auth-token': token, 'content-type': 'application/octet-stream' }, body: Buffer.from('not an image'),
    });
    assert.equal(r.status, 409);
    assert.match((await r.json()).conflictingRequest.message, /is not taking snapshot/);
    const after = await (await sendJson('GET', `${c.url}/image/v2/images/${image.id}`, token)).json();
    assert.equal(after.status, 'queued');
    assert.equal((await sendJson('GET', `${c.url}/image/v2/images/${image.id}/file`, token)).status, 204, 'no data');
  });

  test('a token without the service or admin role may not upload: 403', { timeout: 60_000 }, async () => {
    const r = await fetch(`${c.url}/agent/v1/hosts/compute-0/guests/${randomUUID()}/snapshots/${randomUUID()}`, {
      method: 'PUT', headers: { 'x-auth-token': await c.token('demo'), 'content-type': 'application/octet-stream' }, body: Buffer.from('x'),
    });
    assert.equal(r.status, 403);
  });
});
