/**
 * The agent protocol over HTTP: the /agent/v1 routes on a real controller and
 * HttpControllerLink against them, through a real TCP proxy that can play an
 * unreachable controller and shows which tokens the link sends.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { HttpControllerLink, ControllerRejected, LinkClosed } from '../../src/agent/httpControllerLink.js';
import { waitTimeout, MAX_WAIT_MS } from '../../src/controller/api/agent/routes.js';
import { tokenIssuer } from '../../src/controller/api/identity/tokens.js';
import type { HostRegistration } from '../../src/protocol/agentProtocol.js';
import type { TrackedDevice } from '../../src/domain/pci/device.js';
import { startProxy, type Proxy } from '../helpers/httpProxy.js';
import { startTestController, type TestController } from '../helpers/testController.js';
import { kysely } from '../helpers/storageAccess.js';

function registration(host: string): HostRegistration {
  return {
    host, serviceVersion: 66, hypervisorType: 'QEMU', hostIp: '192.0.2.7', vcpus: 8, memoryMb: 16384, diskGb: 100,
    versions: { kernel: '6.1.0', libvirt: '9.0.0', qemu: '7.2.0' }, vdpaUnsupportedReason: null,
  };
}

function vdpaDevice(address: string, n: number): TrackedDevice {
  return {
    address, vendorId: '15b3', productId: '101e', devType: 'vdpa', parentAddr: '0000:06:00.0', numaNode: 0,
    devname: null, vdpaName: `vdpa${n}`, vdpaChardev: `/dev/vhost-vdpa-${n}`, physicalNetwork: 'physnet0',
    tags: { physical_network: 'physnet0' },
  };
}

describe('agent API and HTTP controller link', () => {
  let c: TestController;
  let proxy: Proxy;
  const credential = () => ({ username: 'compute-agent', password: c.agentPassword, projectName: 'service' });
  const newLink = () => new HttpControllerLink({ controllerUrl: proxy.url, credential: credential(), initialBackoffMs: 20, maxBackoffMs: 200 });

  before(async () => {
    c = await startTestController();
    proxy = await startProxy(c.url);
  });
  after(async () => {
    await proxy.close();
    await c.close();
  });

  async function serviceToken(): Promise<string> {
    const res = await fetch(`${c.url}/identity/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ auth: {
        identity: { methods: ['password'], password: { user: { name: 'compute-agent', domain: { name: 'Default' }, password: c.agentPassword } } },
        scope: { project: { name: 'service', domain: { name: 'Default' } } },
      } }),
    });
    return res.headers.get('x-subject-token')!;
  }

  test('needs a token (401) with the service or admin role (else 403), in the compute error format', { timeout: 300_000 }, async () => {
    const none = await fetch(`${c.url}/agent/v1/hosts/h1/guests`);
    assert.equal(none.status, 401);
    assert.equal((await none.json() as any).unauthorized.code, 401);

    const demo = await fetch(`${c.url}/agent/v1/hosts/h1/guests`, { headers: { 'x-auth-token': await c.token('demo') } });
    assert.equal(demo.status, 403);
    const body = await demo.json() as any;
    assert.equal(body.forbidden.code, 403);
    assert.match(body.forbidden.message, /service or admin role/);

    for (const token of [await serviceToken(), await c.token('admin')]) {
      const ok = await fetch(`${c.url}/agent/v1/hosts/h1/guests`, { headers: { 'x-auth-token': token } });
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { guests: [] });
    }
  });

  test('rejects a body for another host and a malformed body with 400', { timeout: 300_000 }, async () => {
    const headers = { 'x-auth-token': await serviceToken(), 'content-type': 'application/json' };
    const other = await fetch(`${c.url}/agent/v1/hosts/h1`, { method: 'PUT', headers, body: JSON.stringify(registration('h2')) });
    assert.equal(other.status, 400);
    assert.match((await other.json() as any).badRequest.message, /names host h2 but the path names host h1/);
    const broken = await fetch(`${c.url}/agent/v1/hosts/h1/inventory`, { method: 'PUT', headers, body: JSON.stringify({ host: 'h1', devices: [{ address: 1 }] }) });
    assert.equal(broken.status, 400);
    assert.ok((await broken.json() as any).badRequest);
    const row = await kysely(c.ctx.store).selectFrom('compute_nodes').select('host').where('host', 'in', ['h1', 'h2']).execute();
    assert.deepEqual(row, []);
  });

  test('every ControllerLink call reaches the database, and repeating one changes nothing', { timeout: 300_000 }, async () => {
    const link = newLink();
    const host = `remote-${randomUUID().slice(0, 8)}`;
    await link.registerHost(registration(host));
    await link.registerHost(registration(host));
    const services = await kysely(c.ctx.store).selectFrom('services').selectAll().where('host', '=', host).execute();
    assert.equal(services.length, 1);
    const node = await kysely(c.ctx.store).selectFrom('compute_nodes').selectAll().where('host', '=', host).executeTakeFirstOrThrow();
    assert.equal(node.vcpus, 8);
    assert.equal(node.host_ip, '192.0.2.7');

    const devices = [vdpaDevice('0000:06:00.1', 0), vdpaDevice('0000:06:00.2', 1)];
    await link.reportInventory({ host, devices });
    await link.reportInventory({ host, devices });
    const rows = await kysely(c.ctx.store).selectFrom('pci_devices').select(['address', 'status', 'vdpa_chardev']).where('host', '=', host).orderBy('address').execute();
    assert.deepEqual(rows, [
      { address: '0000:06:00.1', status: 'available', vdpa_chardev: '/dev/vhost-vdpa-0' },
      { address: '0000:06:00.2', status: 'available', vdpa_chardev: '/dev/vhost-vdpa-1' },
    ]);

    const before = (await kysely(c.ctx.store).selectFrom('services').select('report_count').where('host', '=', host).executeTakeFirstOrThrow()).report_count;
    await link.heartbeat(host);
    const afterCount = (await kysely(c.ctx.store).selectFrom('services').select('report_count').where('host', '=', host).executeTakeFirstOrThrow()).report_count;
    assert.equal(afterCount, before + 1);

    assert.deepEqual(await link.pendingGuests(host), []);
    assert.deepEqual(await link.allGuests(host), []);
    // A report for a guest the controller never placed is ignored, not an error.
    await link.reportGuest({ host, instanceUuid: randomUUID(), generation: 1, observedState: 'running', domainXml: null, error: null });
    link.close();
  });

  test('waitForWork is a long poll: it returns when the host is signalled, or after the timeout', { timeout: 300_000 }, async () => {
    const link = newLink();
    const host = `wait-${randomUUID().slice(0, 8)}`;
    let t = Date.now();
    await link.waitForWork(host, 300);
    assert.ok(Date.now() - t >= 250, 'returned before its timeout');

    t = Date.now();
    const waiting = link.waitForWork(host, 10_000);
    setTimeout(() => c.ctx.signals.notify(host), 200);
    await waiting;
    assert.ok(Date.now() - t < 5_000, 'a signal did not end the long poll');
    link.close();
  });

  test('the long poll is bounded whatever the agent asks', { timeout: 300_000 }, () => {
    assert.equal(waitTimeout('100000000'), MAX_WAIT_MS);
    assert.equal(waitTimeout('250'), 250);
    assert.ok(waitTimeout(undefined) <= MAX_WAIT_MS);
    assert.throws(() => waitTimeout('-5'), /timeout_ms/);
    assert.throws(() => waitTimeout('soon'), /timeout_ms/);
  });

  test('retries while the controller is unreachable and completes once it is back', { timeout: 300_000 }, async () => {
    const link = newLink();
    const host = `outage-${randomUUID().slice(0, 8)}`;
    proxy.down = true;
    let done = false;
    const call = link.registerHost(registration(host)).then(() => { done = true; });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(done, false, 'the call finished while the controller was down');
    proxy.down = false;
    await call;
    const node = await kysely(c.ctx.store).selectFrom('compute_nodes').select('host').where('host', '=', host).executeTakeFirst();
    assert.equal(node?.host, host);
    link.close();
  });

  test('a revoked or expired token is replaced and the call repeated', { timeout: 300_000 }, async () => {
    const link = newLink();
    const host = `reauth-${randomUUID().slice(0, 8)}`;
    await link.registerHost(registration(host));
    assert.equal(link.authentications, 1);
    const used = proxy.tokens.at(-1)!;
    assert.ok(await tokenIssuer(c.ctx).revoke(used));
    await link.heartbeat(host);
    assert.equal(link.authentications, 2);
    assert.notEqual(proxy.tokens.at(-1), used);
    link.close();
  });

  test('a wrong credential is an error at once, not retried', { timeout: 300_000 }, async () => {
    const link = new HttpControllerLink({ controllerUrl: proxy.url, credential: { ...credential(), password: 'wrong' } });
    await assert.rejects(link.connect(), (e: unknown) => e instanceof ControllerRejected && e.status === 401 && /compute-agent/.test(e.message));
    link.close();
  });

  test('closing the link ends a call that is waiting for the controller', { timeout: 300_000 }, async () => {
    const link = newLink();
    proxy.down = true;
    const call = link.heartbeat('nobody');
    setTimeout(() => link.close(), 200);
    await assert.rejects(call, LinkClosed);
    proxy.down = false;
  });
});
