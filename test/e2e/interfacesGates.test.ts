import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { cirrosImageId, computeVersion, createPort } from '../helpers/e2eFixtures.js';

const H270 = computeVersion('2.70');

/** Rolling upgrade: one compute still at service version 61 refuses attach/detach (62) and live migration (63) for vDPA servers. */
describe('vDPA rolling-upgrade gates for interface attach/detach and live migration', () => {
  let aio: AllInOneProcess;
  let vdpaServer: string;
  let plainServer: string;
  let vdpaPortId: string;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('new-0'), vdpaHost('old-1', { serviceVersion: 61 })] });
    const image = await cirrosImageId(aio);
    const vp = await createPort(aio, 'vdpa-port', 'vdpa');
    vdpaPortId = vp.id;
    const np = await createPort(aio, 'plain-port', 'normal');
    const a = await aio.api('POST', '/compute/v2.1/servers', { server: { name: 'vdpa-vm', imageRef: image, flavorRef: '1', networks: [{ port: vp.id }] } });
    const b = await aio.api('POST', '/compute/v2.1/servers', { server: { name: 'plain-vm', imageRef: image, flavorRef: '1', networks: [{ port: np.id }] } });
    vdpaServer = a.body.server.id;
    plainServer = b.body.server.id;
    await aio.waitForServer(vdpaServer, ['ACTIVE']);
    await aio.waitForServer(plainServer, ['ACTIVE']);
  });
  after(async () => { await aio?.stop(); });

  test('server add port on a vdpa server: 400 with Nova\'s message naming the server; nothing claimed', { timeout: 300_000 }, async () => {
    const host = (await aio.api('GET', `/compute/v2.1/servers/${vdpaServer}`)).body.server['OS-EXT-SRV-ATTR:host'];
    const free = freeCount(await aio.pci(host));
    const extra = await createPort(aio, 'extra', 'vdpa');
    const r = await aio.openstack(['server', 'add', 'port', 'vdpa-vm', 'extra']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /BadRequestException: 400/);
    assert.ok(r.stderr.includes(`Operation 'attach_interface' not supported for instance with vDPA ports (${vdpaServer}).`), r.stderr);
    assert.equal(freeCount(await aio.pci(host)), free);
    assert.equal((await aio.api('GET', `/network/v2.0/ports/${extra.id}`)).body.port.device_id, '');
    // A vdpa port onto a server without one is refused too: the result would be a vDPA server.
    const onto = await aio.api('POST', `/compute/v2.1/servers/${plainServer}/os-interface`, { interfaceAttachment: { port_id: extra.id } }, { headers: H270 });
    assert.equal(onto.status, 400);
    assert.equal(onto.body.badRequest.message, `Operation 'attach_interface' not supported for instance with vDPA ports (${plainServer}).`);
  });

  test('detach and live migration are refused the same way', { timeout: 300_000 }, async () => {
    const detach = await aio.api('DELETE', `/compute/v2.1/servers/${vdpaServer}/os-interface/${vdpaPortId}`, undefined, { headers: H270 });
    assert.equal(detach.status, 400);
    assert.equal(detach.body.badRequest.message, `Operation 'detach_interface' not supported for instance with vDPA ports (${vdpaServer}).`);
    const live = await aio.openstack(['server', 'migrate', '--live-migration', 'vdpa-vm']);
    assert.equal(live.code, 1);
    assert.ok(live.stderr.includes(`Operation 'live-migration' not supported for instance with vDPA ports (${vdpaServer}). (HTTP 400)`), live.stderr);
    const s = (await aio.api('GET', `/compute/v2.1/servers/${vdpaServer}`)).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s['OS-EXT-STS:task_state'], null);
  });

  test('servers without vdpa ports are not gated: a normal port attaches and detaches', { timeout: 300_000 }, async () => {
    const np = await createPort(aio, 'plain-2', 'normal');
    const r = await aio.openstack(['server', 'add', 'port', 'plain-vm', 'plain-2']);
    assert.equal(r.code, 0, r.stderr);
    const port = (await aio.api('GET', `/network/v2.0/ports/${np.id}`)).body.port;
    assert.equal(port.device_id, plainServer);
    assert.deepEqual(port['binding:profile'], {});
    const xml = (await aio.api('GET', `/compute/v2.1/servers/${plainServer}/domain-xml`)).body.domain_xml;
    assert.ok(xml.includes(`<mac address="${np.mac_address}"/>`));
    const d = await aio.openstack(['server', 'remove', 'port', 'plain-vm', 'plain-2']);
    assert.equal(d.code, 0, d.stderr);
    const end = Date.now() + 10_000;
    while ((await aio.api('GET', `/network/v2.0/ports/${np.id}`)).body.port.device_id !== '') {
      assert.ok(Date.now() < end, 'the port was never released');
      await new Promise((res) => setTimeout(res, 50));
    }
  });
});
