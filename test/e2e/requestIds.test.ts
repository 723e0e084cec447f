import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { createPort, twoVdpaHosts } from '../helpers/e2eFixtures.js';

const REQUEST_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A raw call that keeps the answer's headers. */
async function call(aio: AllInOneProcess, method: string, path: string, body?: unknown): Promise<{ status: number; headers: Headers; body: any }> {
  const headers: Record<string, string> = { 'x-auth-token': await aio.token('admin') };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${aio.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** The serve process's JSON log lines that carry this request id. */
function logLinesOf(aio: AllInOneProcess, requestId: string): any[] {
  return aio.output().split('\n').filter((l) => l.startsWith('{') && l.includes(requestId)).map((l) => JSON.parse(l));
}

async function waitForLog(aio: AllInOneProcess, requestId: string, match: (line: any) => boolean): Promise<any> {
  for (let i = 0; i < 100; i++) {
    const found = logLinesOf(aio, requestId).find(match);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no log line for ${requestId} matched; its lines: ${JSON.stringify(logLinesOf(aio, requestId))}`);
}

describe('request ids from the client through the controller to the agent', { timeout: 60_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: twoVdpaHosts(), env: { VDPA_LOG_LEVEL: 'debug' } });
  });
  after(async () => { await aio?.stop(); });

  test('every API answers with x-openstack-request-id, and the Compute API also with x-compute-request-id', { timeout: 60_000 }, async () => {
    for (const path of ['/identity/v3/projects', '/network/v2.0/networks', '/image/v2/images', '/compute/v2.1/flavors', '/compute/v2.1/servers/no-such-server']) {
      const r = await call(aio, 'GET', path);
      const id = r.headers.get('x-openstack-request-id');
      assert.match(id ?? '', REQUEST_ID, path);
      // Nova's own header, on the Compute API only.
      assert.equal(r.headers.get('x-compute-request-id'), path.startsWith('/compute') ? id : null, path);
    }
    const again = await call(aio, 'GET', '/compute/v2.1/flavors');
    assert.notEqual(again.headers.get('x-openstack-request-id'), (await call(aio, 'GET', '/compute/v2.1/flavors')).headers.get('x-openstack-request-id'));
  });

  test('a boot and a stop: the instance actions record their request ids, and the controller\'s and the agent\'s logs carry them with the server and host', { timeout: 60_000 }, async () => {
    const port = await createPort(aio, 'traced-port');
    const flavor = (await call(aio, 'GET', '/compute/v2.1/flavors')).body.flavors.find((f: any) => f.name === 'm1.tiny');
    const image = (await call(aio, 'GET', '/image/v2/images')).body.images.find((i: any) => i.name === 'cirros');
    const created = await call(aio, 'POST', '/compute/v2.1/servers', {
      server: { name: 'traced-vm', flavorRef: flavor.id, imageRef: image.id, networks: [{ port: port.id }] },
    });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const bootId = created.headers.get('x-openstack-request-id')!;
    assert.match(bootId, REQUEST_ID);
    const server = await aio.waitForServer(created.body.server.id, ['ACTIVE']);
    const host = server['OS-EXT-SRV-ATTR:host'];

    const actions = (await call(aio, 'GET', `/compute/v2.1/servers/${server.id}/os-instance-actions`)).body.instanceActions;
    assert.deepEqual(actions.map((a: any) => [a.action, a.request_id]), [['create', bootId]]);
    assert.equal((await call(aio, 'GET', `/compute/v2.1/servers/${server.id}/os-instance-actions/${bootId}`)).status, 200);

    const answered = await waitForLog(aio, bootId, (l) => l.msg === 'request completed');
    assert.equal(answered.reqId, bootId);
    const step = await waitForLog(aio, bootId, (l) => l.msg === 'operation step');
    assert.equal(step.server, server.id);
    const onAgent = await waitForLog(aio, bootId, (l) => l.msg === 'guest operation' && l.desired === 'running');
    assert.deepEqual([onAgent.server, onAgent.host], [server.id, host]);

    const stop = await call(aio, 'POST', `/compute/v2.1/servers/${server.id}/action`, { 'os-stop': null });
    assert.equal(stop.status, 202);
    const stopId = stop.headers.get('x-compute-request-id')!;
    assert.equal(stop.headers.get('x-openstack-request-id'), stopId);
    await aio.waitForServer(server.id, ['SHUTOFF']);
    const afterStop = (await call(aio, 'GET', `/compute/v2.1/servers/${server.id}/os-instance-actions`)).body.instanceActions;
    assert.deepEqual(afterStop.map((a: any) => [a.action, a.request_id]), [['stop', stopId], ['create', bootId]]);
    const stopOnAgent = await waitForLog(aio, stopId, (l) => l.msg === 'guest operation' && l.desired === 'shutoff');
    assert.deepEqual([stopOnAgent.server, stopOnAgent.host], [server.id, host]);
    const stopStep = await waitForLog(aio, stopId, (l) => l.msg === 'operation step' && l.taskState === 'powering-off');
    assert.deepEqual([stopStep.server, stopStep.host], [server.id, host]);

    const deleted = await call(aio, 'DELETE', `/compute/v2.1/servers/${server.id}`);
    assert.equal(deleted.status, 204);
    await aio.waitForServer(server.id, ['DELETED']);
    const deleteOnAgent = await waitForLog(aio, deleted.headers.get('x-openstack-request-id')!, (l) => l.msg === 'guest operation' && l.desired === 'absent');
    assert.deepEqual([deleteOnAgent.server, deleteOnAgent.host], [server.id, host]);
  });
});
