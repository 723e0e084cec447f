import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootOnNewPort, EMBEDDED_FLAVOR, flavorName, lastMigration, showPort } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

/** Resize on the only host, which the operator allows (allow_resize_to_same_host: true). */
describe('resize to the same host when the operator allows it', () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')], config: { allow_resize_to_same_host: true } });
  });
  after(async () => { await aio?.stop(); });

  test('claims are doubled in VERIFY_RESIZE (2 free), confirm brings it back to 3', { timeout: 300_000 }, async () => {
    const { server, port: p } = await bootOnNewPort(aio, 'same-vm');
    assert.equal(freeCount(await aio.pci('compute-0')), 3);
    const oldVf = (await showPort(aio, p.id))['binding:profile'].pci_slot;

    const r = await aio.openstack(['server', 'resize', '--flavor', 'm1.small', 'same-vm']);
    assert.equal(r.code, 0, r.stderr);
    const resized = await aio.waitForServer(server.id, ['VERIFY_RESIZE', 'ERROR', 'ACTIVE']);
    assert.equal(resized.status, 'VERIFY_RESIZE', JSON.stringify(resized.fault));
    assert.equal(resized['OS-EXT-SRV-ATTR:host'], 'compute-0');
    const devices = await aio.pci('compute-0');
    assert.equal(freeCount(devices), 2);
    const held = devices.filter((d) => d.status === 'allocated' && d.instance_uuid === server.id);
    assert.equal(held.length, 2);
    const newVf = (await showPort(aio, p.id))['binding:profile'].pci_slot;
    assert.notEqual(newVf, oldVf);
    const xml = await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`);
    assert.match(xml.body.domain_xml, new RegExp(`<source dev="${held.find((d) => d.address === newVf).vdpa_chardev}"/>`));
    assertValidDomainXml(xml.body.domain_xml, 'the domain after a same-host resize');
    assert.match(xml.body.domain_xml, /<memory unit="MiB">2048<\/memory>/);
    const show = await aio.api('GET', `/compute/v2.1/servers/${server.id}`, undefined, EMBEDDED_FLAVOR);
    assert.equal(flavorName(show.body.server), 'm1.small');
    const m = await lastMigration(aio, server.id);
    assert.deepEqual([m.status, m.migration_type, m.source_compute, m.dest_compute], ['finished', 'resize', 'compute-0', 'compute-0']);

    const c = await aio.openstack(['server', 'resize', 'confirm', 'same-vm']);
    assert.equal(c.code, 0, c.stderr);
    await aio.waitForServer(server.id, ['ACTIVE']);
    const after = await aio.pci('compute-0');
    assert.equal(freeCount(after), 3);
    assert.deepEqual(after.filter((d) => d.status === 'allocated').map((d) => d.address), [newVf]);
    assert.equal((await lastMigration(aio, server.id)).status, 'confirmed');
    const confirmed = await aio.api('GET', `/compute/v2.1/servers/${server.id}`, undefined, EMBEDDED_FLAVOR);
    assert.equal(flavorName(confirmed.body.server), 'm1.small');
  });

  test('revert on the same host: back to the old flavor and VF, 3 free', { timeout: 300_000 }, async () => {
    const { server, port: p } = await aio.api('GET', '/compute/v2.1/servers?name=same-vm')
      .then(async (r) => ({ server: r.body.servers[0], port: (await aio.api('GET', `/network/v2.0/ports?device_id=${r.body.servers[0].id}`)).body.ports[0] }));
    const before = await showPort(aio, p.id);
    assert.equal((await aio.openstack(['server', 'resize', '--flavor', 'm1.medium', 'same-vm'])).code, 0);
    await aio.waitForServer(server.id, ['VERIFY_RESIZE']);
    assert.equal(freeCount(await aio.pci('compute-0')), 2);

    const r = await aio.openstack(['server', 'resize', 'revert', 'same-vm']);
    assert.equal(r.code, 0, r.stderr);
    const back = await aio.waitForServer(server.id, ['ACTIVE', 'ERROR']);
    assert.equal(back.status, 'ACTIVE', JSON.stringify(back.fault));
    assert.equal(freeCount(await aio.pci('compute-0')), 3);
    const after = await showPort(aio, p.id);
    assert.deepEqual(after['binding:profile'], before['binding:profile']);
    const show = await aio.api('GET', `/compute/v2.1/servers/${server.id}`, undefined, EMBEDDED_FLAVOR);
    assert.equal(flavorName(show.body.server), 'm1.small');
    assert.equal((await lastMigration(aio, server.id)).status, 'reverted');
    const xml = await aio.api('GET', `/compute/v2.1/servers/${server.id}/domain-xml`);
    const vf = (await aio.pci('compute-0')).find((d) => d.address === before['binding:profile'].pci_slot);
    assert.match(xml.body.domain_xml, new RegExp(`<source dev="${vf.vdpa_chardev}"/>`));
    assertValidDomainXml(xml.body.domain_xml, 'the domain after a same-host revert');
    assert.match(xml.body.domain_xml, /<memory unit="MiB">2048<\/memory>/);
  });
});
