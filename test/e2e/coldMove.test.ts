import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootWithPorts, createPort, showPort, until } from '../helpers/e2eFixtures.js';
import { assertValidDomainXml } from '../helpers/domainXmlSchema.js';

const HOSTS = ['compute-0', 'compute-1'];

const hostOf = (s: any): string => s['OS-EXT-SRV-ATTR:host'];
const other = (h: string): string => HOSTS.find((x) => x !== h)!;

/** Devices of `host` allocated to the server, by address. */
async function allocatedTo(aio: AllInOneProcess, host: string, serverId: string): Promise<any[]> {
  return (await aio.pci(host)).filter((d) => d.status === 'allocated' && d.instance_uuid === serverId);
}

async function migrations(aio: AllInOneProcess, query = ''): Promise<any[]> {
  const r = await aio.api('GET', `/compute/v2.1/os-migrations${query}`, undefined, { headers: { 'openstack-api-version': 'compute 2.59' } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.migrations;
}

async function counts(aio: AllInOneProcess): Promise<number[]> {
  return Promise.all(HOSTS.map(async (h) => freeCount(await aio.pci(h))));
}

/** `openstack server migrate`, `resize confirm` and `resize revert` across two vDPA hosts. */
describe('cold migration of vdpa servers between two hosts', () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: HOSTS.map((h) => vdpaHost(h)) });
  });
  after(async () => { await aio?.stop(); });

  test('migrate → VERIFY_RESIZE on the other host with both hosts claimed; confirm frees the source', { timeout: 300_000 }, async () => {
    const p = await createPort(aio, 'mig-port');
    const booted = await bootWithPorts(aio, 'mig-vm', [p]);
    const source = hostOf(booted);
    const dest = other(source);
    const sourceVf = (await showPort(aio, p.id))['binding:profile'].pci_slot;
    assert.deepEqual(await counts(aio), HOSTS.map((h) => (h === source ? 3 : 5)));

    const r = await aio.openstack(['server', 'migrate', 'mig-vm']);
    assert.equal(r.code, 0, r.stderr);
    const moved = await aio.waitForServer(booted.id, ['VERIFY_RESIZE', 'ERROR', 'ACTIVE']);
    assert.equal(moved.status, 'VERIFY_RESIZE', JSON.stringify(moved.fault));
    assert.equal(hostOf(moved), dest);
    assert.deepEqual(await counts(aio), [3, 3]);
    // The source VF is still held (by the migration), the destination's by the server.
    assert.deepEqual((await allocatedTo(aio, source, booted.id)).map((d) => d.address), [sourceVf]);
    const [destVf] = await allocatedTo(aio, dest, booted.id);
    assert.ok(destVf);

    const bound = await showPort(aio, p.id);
    assert.equal(bound['binding:host_id'], dest);
    assert.equal(bound['binding:profile'].pci_slot, destVf.address);
    assert.equal(bound['binding:profile'].pci_vendor_info, '15b3:101e');
    assert.equal(bound.device_id, booted.id);

    const xml = await aio.api('GET', `/compute/v2.1/servers/${booted.id}/domain-xml`);
    assert.equal(xml.body.host, dest);
    assert.match(xml.body.domain_xml, new RegExp(`<source dev="${destVf.vdpa_chardev}"/>`));
    assertValidDomainXml(xml.body.domain_xml, 'the domain after a cold migration');

    const [m] = await migrations(aio, `?instance_uuid=${booted.id}`);
    assert.equal(m.status, 'finished');
    assert.equal(m.migration_type, 'migration');
    assert.equal(m.source_compute, source);
    assert.equal(m.dest_compute, dest);
    assert.equal(m.old_instance_type_id, 1);
    assert.equal(m.new_instance_type_id, 1);
    assert.match(m.uuid, /^[0-9a-f-]{36}$/);

    const c = await aio.openstack(['server', 'resize', 'confirm', 'mig-vm']);
    assert.equal(c.code, 0, c.stderr);
    const confirmed = await aio.waitForServer(booted.id, ['ACTIVE']);
    assert.equal(hostOf(confirmed), dest);
    assert.deepEqual(await counts(aio), HOSTS.map((h) => (h === source ? 5 : 3)));
    assert.equal((await migrations(aio, `?instance_uuid=${booted.id}`))[0].status, 'confirmed');
    // The source guest goes away.
    await until('the source guest removed', async () => {
      const x = await aio.api('GET', `/compute/v2.1/servers/${booted.id}/domain-xml`);
      return x.body.host === dest;
    });
    const actions = (await aio.api('GET', `/compute/v2.1/servers/${booted.id}/os-instance-actions`)).body.instanceActions;
    assert.deepEqual(actions.map((a: any) => a.action).slice(0, 2), ['confirmResize', 'migrate']);

    const d = await aio.openstack(['server', 'delete', 'mig-vm']);
    assert.equal(d.code, 0, d.stderr);
    await aio.waitForServer(booted.id, ['DELETED']);
    await until('devices freed', async () => (await counts(aio)).every((n) => n === 5));
  });

  test('revert: the destination is freed and the port bound to its source VF again', { timeout: 300_000 }, async () => {
    const p = await createPort(aio, 'rev-port');
    const booted = await bootWithPorts(aio, 'rev-vm', [p]);
    const source = hostOf(booted);
    const dest = other(source);
    const before = await showPort(aio, p.id);

    assert.equal((await aio.openstack(['server', 'migrate', 'rev-vm'])).code, 0);
    await aio.waitForServer(booted.id, ['VERIFY_RESIZE']);
    assert.deepEqual(await counts(aio), [3, 3]);
    assert.notEqual((await showPort(aio, p.id))['binding:host_id'], source);

    const r = await aio.openstack(['server', 'resize', 'revert', 'rev-vm']);
    assert.equal(r.code, 0, r.stderr);
    const back = await aio.waitForServer(booted.id, ['ACTIVE', 'ERROR']);
    assert.equal(back.status, 'ACTIVE');
    assert.equal(hostOf(back), source);
    assert.deepEqual(await counts(aio), HOSTS.map((h) => (h === source ? 3 : 5)));
    const after = await showPort(aio, p.id);
    assert.equal(after['binding:host_id'], source);
    assert.deepEqual(after['binding:profile'], before['binding:profile']);
    const [vf] = await allocatedTo(aio, source, booted.id);
    assert.equal(vf.address, before['binding:profile'].pci_slot);
    const xml = await aio.api('GET', `/compute/v2.1/servers/${booted.id}/domain-xml`);
    assert.equal(xml.body.host, source);
    assert.match(xml.body.domain_xml, new RegExp(`<source dev="${vf.vdpa_chardev}"/>`));
    assertValidDomainXml(xml.body.domain_xml, 'the domain after a revert');
    assert.equal((await migrations(aio, `?instance_uuid=${booted.id}`))[0].status, 'reverted');
    // The host filter matches the source or the destination.
    assert.equal((await migrations(aio, `?host=${dest}&status=reverted`)).length, 1);
    assert.equal((await migrations(aio, `?host=${source}&status=reverted`)).length, 1);

    // Wrong state: the client prints Nova's 409.
    const wrong = await aio.openstack(['server', 'resize', 'confirm', 'rev-vm']);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`Cannot 'confirmResize' instance ${booted.id} while it is in vm_state active \\(HTTP 409\\)`));
    const wrongRevert = await aio.api('POST', `/compute/v2.1/servers/${booted.id}/action`, { revertResize: null });
    assert.equal(wrongRevert.status, 409);
    assert.equal(wrongRevert.body.conflictingRequest.message, `Cannot 'revertResize' instance ${booted.id} while it is in vm_state active`);

    await aio.openstack(['server', 'delete', 'rev-vm']);
    await aio.waitForServer(booted.id, ['DELETED']);
    await until('devices freed', async () => (await counts(aio)).every((n) => n === 5));
  });

  test('two vdpa ports and a normal port move together; refused requests leave nothing behind', { timeout: 300_000 }, async () => {
    const a = await createPort(aio, 'multi-a');
    const b = await createPort(aio, 'multi-b');
    const n = await createPort(aio, 'multi-normal', 'normal');
    const booted = await bootWithPorts(aio, 'multi-vm', [a, b, n]);
    const source = hostOf(booted);
    const dest = other(source);
    assert.deepEqual(await counts(aio), HOSTS.map((h) => (h === source ? 2 : 5)));
    const migrationsBefore = (await migrations(aio)).length;

    // Refusals: same flavor, smaller disk, non-admin migrate. Nothing changes.
    const same = await aio.openstack(['server', 'resize', '--flavor', 'm1.tiny', 'multi-vm']);
    assert.equal(same.code, 1);
    assert.match(same.stderr, /When resizing, instances must change flavor! \(HTTP 400\)/);
    const flavor = await aio.api('POST', `/compute/v2.1/flavors`, { flavor: { name: 'm1.nodisk', ram: 512, vcpus: 1, disk: 0, id: '42' } });
    assert.equal(flavor.status, 200, JSON.stringify(flavor.body));
    const smaller = await aio.api('POST', `/compute/v2.1/servers/${booted.id}/action`, { resize: { flavorRef: '42' } });
    assert.equal(smaller.status, 400, JSON.stringify(smaller.body));
    assert.equal(smaller.body.badRequest.message, 'Resize error: Unable to resize disk down.');
    const demo = await aio.api('POST', `/compute/v2.1/servers/${booted.id}/action`, { migrate: null }, { user: 'demo' });
    // The server is admin's: Nova looks it up in the member's project before any policy check, so 404.
    assert.equal(demo.status, 404, JSON.stringify(demo.body));
    assert.match(demo.body.itemNotFound.message, /^Instance [0-9a-f-]+ could not be found\.$/);
    assert.equal((await migrations(aio)).length, migrationsBefore);
    assert.equal((await aio.waitForServer(booted.id, ['ACTIVE'])).status, 'ACTIVE');
    assert.deepEqual(await counts(aio), HOSTS.map((h) => (h === source ? 2 : 5)));

    assert.equal((await aio.openstack(['server', 'migrate', 'multi-vm'])).code, 0);
    const moved = await aio.waitForServer(booted.id, ['VERIFY_RESIZE', 'ERROR', 'ACTIVE']);
    assert.equal(moved.status, 'VERIFY_RESIZE');
    assert.deepEqual(await counts(aio), [2, 2]);
    // A second move while one waits for confirmation is refused.
    const again = await aio.api('POST', `/compute/v2.1/servers/${booted.id}/action`, { migrate: null });
    assert.equal(again.status, 409);
    assert.equal(again.body.conflictingRequest.message, `Cannot 'migrate' instance ${booted.id} while it is in vm_state resized`);

    const destVfs = await allocatedTo(aio, dest, booted.id);
    assert.equal(destVfs.length, 2);
    const [pa, pb, pn] = await Promise.all([a, b, n].map((x) => showPort(aio, x.id)));
    assert.deepEqual([pa['binding:profile'].pci_slot, pb['binding:profile'].pci_slot].sort(), destVfs.map((d) => d.address).sort());
    for (const x of [pa, pb, pn]) assert.equal(x['binding:host_id'], dest);
    assert.deepEqual(pn['binding:profile'], {});
    const xml = (await aio.api('GET', `/compute/v2.1/servers/${booted.id}/domain-xml`)).body.domain_xml as string;
    assertValidDomainXml(xml, 'the domain after a resize');
    const byMac = (mac: string) => new RegExp(`<interface type="([a-z]+)">\\s*<mac address="${mac}"/>`).exec(xml)?.[1];
    assert.equal(byMac(pa.mac_address), 'vdpa');
    assert.equal(byMac(pb.mac_address), 'vdpa');
    assert.equal(byMac(pn.mac_address), 'ethernet');
    for (const d of destVfs) assert.ok(xml.includes(`<source dev="${d.vdpa_chardev}"/>`));

    assert.equal((await aio.openstack(['server', 'migrate', 'confirm', 'multi-vm'])).code, 0);
    await aio.waitForServer(booted.id, ['ACTIVE']);
    assert.deepEqual(await counts(aio), HOSTS.map((h) => (h === source ? 5 : 2)));

    // os-migrations: every record, filters and the 2.59 fields.
    const all = await migrations(aio);
    assert.deepEqual(all.map((m) => m.status), ['confirmed', 'reverted', 'confirmed']);
    assert.equal((await migrations(aio, '?status=reverted')).length, 1);
    assert.equal((await migrations(aio, `?instance_uuid=${booted.id}`)).length, 1);
    assert.equal((await migrations(aio, '?migration_type=resize')).length, 0);
    assert.equal((await migrations(aio, '?limit=1')).length, 1);
    const old = await aio.api('GET', '/compute/v2.1/os-migrations');
    assert.equal(old.body.migrations[0].uuid, undefined);
    assert.equal(old.body.migrations[0].migration_type, undefined);
    const forbidden = await aio.api('GET', '/compute/v2.1/os-migrations', undefined, { user: 'demo' });
    assert.equal(forbidden.status, 403);
    const live = await aio.api('GET', `/compute/v2.1/servers/${booted.id}/migrations`, undefined, { headers: { 'openstack-api-version': 'compute 2.23' } });
    assert.equal(live.status, 200);
    assert.deepEqual(live.body.migrations, []);
  });
});
