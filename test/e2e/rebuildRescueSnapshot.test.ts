import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { validateDomain } from '../domain/guest/fixtures.js';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithClient, deleteServerByName, domainXml, instanceActions, twoVdpaHosts } from '../helpers/e2eFixtures.js';

/** What must not change across rebuild, rescue/unrescue and snapshot: the host's devices, the port's binding, the guest definition. */
async function devicesAndBinding(aio: AllInOneProcess, host: string, portId: string, serverId: string) {
  const port = (await aio.api('GET', `/network/v2.0/ports/${portId}`)).body.port;
  const xml = await domainXml(aio, serverId);
  const validated = validateDomain(xml.domain_xml);
  assert.equal(validated.status, 0, validated.output);
  return {
    pci: (await aio.pci(host)).map((d: any) => ({ address: d.address, status: d.status, instance: d.instance_uuid ?? null })),
    binding: { host: port['binding:host_id'], profile: port['binding:profile'], deviceId: port.device_id, status: port.status },
    xml: xml.domain_xml,
    guestHost: xml.host,
  };
}

/** Rebuild, rescue/unrescue and server image create through the real openstack client, on a server with a vdpa port. */
describe('rebuild, rescue and snapshot keep a vDPA server\'s devices', { timeout: 240_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('rebuild --image: same host, devices, binding and domain XML; new image_ref; REBUILD while it runs', { timeout: 80_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'rebuild-vm');
    const before = await devicesAndBinding(aio, host, port.id, server.id);
    const data = resolve(import.meta.dirname, '../../../test/fixtures/libvirt/vdpa-host.xml');
    const create = await aio.openstack(['image', 'create', '--disk-format', 'qcow2', '--container-format', 'bare', '--file', data, 'cirros-next']);
    assert.equal(create.code, 0, create.stderr);
    const image = await aio.openstackJson(['image', 'show', 'cirros-next']);
    assert.equal(image.status, 'active');

    const rebuild = await aio.openstack(['server', 'rebuild', '--image', 'cirros-next', 'rebuild-vm']);
    assert.equal(rebuild.code, 0, rebuild.stderr);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(active.image.id, image.id);
    assert.equal(active['OS-EXT-SRV-ATTR:host'], host);
    assert.equal(active['OS-EXT-STS:task_state'], null);
    assert.notEqual(active['OS-SRV-USG:launched_at'], server['OS-SRV-USG:launched_at']);
    assert.deepEqual(await devicesAndBinding(aio, host, port.id, server.id), before);
    const actions = (await instanceActions(aio, server.id)).map((a) => `${a.action}:${a.result}`);
    assert.equal(actions[0], 'rebuild:Success');

    // The API's reply: 202, the server (status REBUILD, image the new one), adminPass, Location.
    const api = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { rebuild: { imageRef: image.id } });
    assert.equal(api.status, 202);
    assert.equal(api.body.server.status, 'REBUILD');
    assert.equal(api.body.server.image.id, image.id);
    assert.match(api.body.server.adminPass, /^[A-Za-z0-9]{12}$/);
    await aio.waitForServer(server.id, ['ACTIVE']);

    const unknown = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { rebuild: { imageRef: '6e3f6b1e-0000-4000-8000-000000000000' } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.badRequest.message, 'Cannot find image for rebuild');
    await deleteServerByName(aio, 'rebuild-vm');
  });

  test('rescue keeps the NICs (same vDPA device) and boots the rescue disk; unrescue gives the original guest back', { timeout: 80_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'rescue-vm');
    const before = await devicesAndBinding(aio, host, port.id, server.id);

    const wrong = await aio.openstack(['server', 'unrescue', 'rescue-vm']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`Cannot 'unrescue' instance ${server.id} while it is in vm_state active \\(HTTP 409\\)`));

    const rescue = await aio.openstack(['server', 'rescue', 'rescue-vm']);
    assert.equal(rescue.code, 0, rescue.stderr);
    const rescued = await aio.waitForServer(server.id, ['RESCUE']);
    assert.equal(rescued['OS-EXT-STS:vm_state'], 'rescued');
    assert.equal(rescued['OS-EXT-STS:power_state'], 1);
    const during = await devicesAndBinding(aio, host, port.id, server.id);
    assert.deepEqual(during.pci, before.pci);
    assert.deepEqual(during.binding, before.binding);
    const vdpaSource = /<interface type="vdpa">[\s\S]*?<source dev="([^"]+)"/.exec(before.xml)![1]!;
    assert.ok(during.xml.includes(`<source dev="${vdpaSource}"/>`), 'the rescue guest keeps the vDPA NIC');
    assert.match(during.xml, /disk\.rescue"\/>\s*<target dev="vda"/);

    const again = await aio.openstack(['server', 'rescue', 'rescue-vm']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`Cannot 'rescue' instance ${server.id} while it is in vm_state rescued \\(HTTP 409\\)`));

    const unrescue = await aio.openstack(['server', 'unrescue', 'rescue-vm']);
    assert.equal(unrescue.code, 0, unrescue.stderr);
    const active = await aio.waitForServer(server.id, ['ACTIVE']);
    assert.equal(active['OS-EXT-STS:vm_state'], 'active');
    assert.deepEqual(await devicesAndBinding(aio, host, port.id, server.id), before);

    // The API's reply to rescue is 200 with the admin password.
    const api = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { rescue: { adminPass: 'rescue-me' } });
    assert.equal(api.status, 200);
    assert.deepEqual(api.body, { adminPass: 'rescue-me' });
    await aio.waitForServer(server.id, ['RESCUE']);

    // Wrong state for the other actions: Nova's 409 through the client (exit 1), nothing changed.
    const rebuild = await aio.openstack(['server', 'rebuild', '--image', 'cirros', 'rescue-vm']);
    assert.equal(rebuild.code, 1);
    assert.match(rebuild.stderr, new RegExp(`Cannot 'rebuild' instance ${server.id} while it is in vm_state rescued \\(HTTP 409\\)`));
    const snapshot = await aio.openstack(['server', 'image', 'create', '--name', 'never', 'rescue-vm']);
    assert.equal(snapshot.code, 1);
    assert.match(snapshot.stderr, new RegExp(`Cannot 'createImage' instance ${server.id} while it is in vm_state rescued`));
    assert.equal((await aio.openstack(['image', 'show', 'never'])).code, 1, 'a refused snapshot leaves no image');
    await deleteServerByName(aio, 'rescue-vm');
  });

  test('server image create records a snapshot image with Nova\'s properties; the server passes through image_snapshot', { timeout: 80_000 }, async () => {
    const { port, server, host } = await bootWithClient(aio, 'snap-vm');
    const before = await devicesAndBinding(aio, host, port.id, server.id);
    const cirros = await aio.openstackJson(['image', 'show', 'cirros']);

    const created = await aio.openstack(['server', 'image', 'create', '--name', 'snap-1', '--wait', 'snap-vm', '-f', 'json']);
    assert.equal(created.code, 0, created.stderr);
    const shown = await aio.openstackJson(['image', 'show', 'snap-1']);
    assert.equal(shown.status, 'active');
    assert.equal(shown.visibility, 'private');
    assert.equal(shown.owner, server.tenant_id);
    assert.equal(shown.properties.image_type, 'snapshot');
    assert.equal(shown.properties.instance_uuid, server.id);
    assert.equal(shown.properties.base_image_ref, cirros.id);
    const listed = await aio.openstackJson(['image', 'list']);
    assert.ok(listed.some((i: any) => i.Name === 'snap-1' && i.Status === 'active'));

    const after = await aio.api('GET', `/compute/v2.1/servers/${server.id}`);
    assert.equal(after.body.server.status, 'ACTIVE');
    assert.deepEqual(await devicesAndBinding(aio, host, port.id, server.id), before);
    const actions = (await instanceActions(aio, server.id)).map((a) => `${a.action}:${a.result}`);
    assert.equal(actions[0], 'createImage:Success');

    // 2.45+: the image id in the body; the task state is image_snapshot_pending at once.
    const api = await aio.api('POST', `/compute/v2.1/servers/${server.id}/action`, { createImage: { name: 'snap-2' } },
      { headers: { 'openstack-api-version': 'compute 2.45' } });
    assert.equal(api.status, 202);
    assert.match(api.body.image_id, /^[0-9a-f-]{36}$/);
    await aio.waitForServer(server.id, ['ACTIVE']);
    await deleteServerByName(aio, 'snap-vm');
  });
});
