import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startAllInOneProcess, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { deleteServerByName, instanceActions, twoVdpaHosts } from '../helpers/e2eFixtures.js';
import { assertDevicesUnchanged, deviceStateOf } from '../helpers/deviceState.js';

const V273 = ['--os-compute-api-version', '2.73'];

/** `server lock` / `unlock`, `server set` / `unset` (name, properties, tags) with the real openstack client. */
describe('server lock, set and unset', { timeout: 300_000 }, () => {
  let aio: AllInOneProcess;
  before(async () => { aio = await startAllInOneProcess({ hosts: twoVdpaHosts() }); });
  after(async () => { await aio?.stop(); });

  test('a locked server refuses its member, not an admin; only the locker kind unlocks', { timeout: 150_000 }, async () => {
    const demo = { user: 'demo' as const };
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'lk-port'], demo);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.small', '--image', 'cirros', '--port', port.id, 'lk-vm'], demo);
    const server = await aio.waitForServer(created.id, ['ACTIVE']);
    const host = server['OS-EXT-SRV-ATTR:host'];
    const start = await deviceStateOf(aio, server.id, host, port.id);

    assert.equal((await aio.openstack(['server', 'lock', 'lk-vm'], demo)).code, 0);
    const shown = await aio.openstackJson([...V273, 'server', 'show', 'lk-vm'], demo);
    assert.equal(shown.locked, true);
    assert.equal(shown.locked_reason, null);

    const stop = await aio.openstack(['server', 'stop', 'lk-vm'], demo);
    assert.equal(stop.code, 1);
    assert.match(stop.stderr, new RegExp(`^Instance ${server.id} is locked \\(HTTP 409\\)`, 'm'));
    const reboot = await aio.openstack(['server', 'reboot', '--hard', 'lk-vm'], demo);
    assert.equal(reboot.code, 1);
    assert.match(reboot.stderr, new RegExp(`^Instance ${server.id} is locked \\(HTTP 409\\)`, 'm'));
    const pause = await aio.openstack(['server', 'pause', 'lk-vm'], demo);
    assert.equal(pause.code, 1);
    assert.match(pause.stderr, new RegExp(`ConflictException: 409: Client Error for url: .*/servers/${server.id}/action, Instance ${server.id} is locked`));
    const prop = await aio.openstack(['server', 'set', '--property', 'env=prod', 'lk-vm'], demo);
    assert.equal(prop.code, 1);
    assert.match(prop.stderr, new RegExp(`Instance ${server.id} is locked \\(HTTP 409\\)`));
    const del = await aio.openstack(['server', 'delete', 'lk-vm'], demo);
    assert.equal(del.code, 1);
    assert.match(del.stderr + del.stdout, new RegExp(`Instance ${server.id} is locked`));
    const detach = await aio.api('DELETE', `/compute/v2.1/servers/${server.id}/os-interface/${port.id}`, undefined, demo);
    assert.equal(detach.status, 409);
    assert.equal(detach.body.conflictingRequest.message, `Instance ${server.id} is locked`);
    // A rename is no action: Nova does not check the lock.
    assert.equal((await aio.openstack(['server', 'set', '--name', 'lk-vm2', 'lk-vm'], demo)).code, 0);

    // The admin acts on the member's locked server (by id: the admin's own list is its project's).
    const adminReboot = await aio.openstack(['server', 'reboot', server.id]);
    assert.equal(adminReboot.code, 0, adminReboot.stderr);
    await aio.waitForServer(server.id, ['ACTIVE']);
    await assertDevicesUnchanged(aio, start, server.id, host, port.id, 'admin reboot of a locked server');

    assert.equal((await aio.openstack(['server', 'unlock', 'lk-vm2'], demo)).code, 0);
    assert.equal((await aio.openstackJson([...V273, 'server', 'show', 'lk-vm2'], demo)).locked, false);

    // An admin's lock, with a reason (2.73): the owner cannot lift it.
    const noReason = await aio.openstack(['server', 'lock', '--reason', 'maintenance', server.id]);
    assert.equal(noReason.code, 1);
    assert.match(noReason.stderr, /--os-compute-api-version 2.73 or greater is required to use the --reason option/);
    assert.equal((await aio.openstack([...V273, 'server', 'lock', '--reason', 'maintenance', server.id])).code, 0);
    const locked = await aio.openstackJson([...V273, 'server', 'show', 'lk-vm2'], demo);
    assert.equal(locked.locked, true);
    assert.equal(locked.locked_reason, 'maintenance');
    const lockedList = await aio.openstackJson([...V273, 'server', 'list', '--locked'], demo);
    assert.deepEqual(lockedList.map((s: any) => s.Name), ['lk-vm2']);
    const unlock = await aio.openstack(['server', 'unlock', 'lk-vm2'], demo);
    assert.equal(unlock.code, 1);
    assert.match(unlock.stderr, /^Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed. \(HTTP 403\)/m);
    assert.equal((await aio.openstack(['server', 'unlock', server.id])).code, 0);
    assert.equal((await aio.openstackJson([...V273, 'server', 'show', 'lk-vm2'], demo)).locked_reason, null);

    const actions = (await instanceActions(aio, server.id)).map((a: any) => a.action);
    assert.deepEqual(actions, ['unlock', 'lock', 'unlock', 'reboot', 'lock', 'create']);
    assert.equal((await aio.api('DELETE', `/compute/v2.1/servers/${server.id}`)).status, 204);
    await aio.waitForServer(server.id, ['DELETED']);
  });

  test('set and unset the name, properties and tags; list by tag', { timeout: 150_000 }, async () => {
    const port = await aio.openstackJson(['port', 'create', '--network', 'vdpa-net', '--vnic-type', 'vdpa', 'pr-port']);
    const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.small', '--image', 'cirros', '--port', port.id, 'pr-vm']);
    const server = await aio.waitForServer(created.id, ['ACTIVE']);

    const set = await aio.openstack(['server', 'set', '--name', 'pr-vm2', '--property', 'env=prod', '--property', 'team=net', 'pr-vm']);
    assert.equal(set.code, 0, set.stderr);
    const shown = await aio.openstackJson(['server', 'show', 'pr-vm2']);
    assert.equal(shown.id, server.id);
    assert.deepEqual(shown.properties, { env: 'prod', team: 'net' });
    assert.equal((await aio.openstack(['server', 'unset', '--property', 'env', 'pr-vm2'])).code, 0);
    assert.deepEqual((await aio.api('GET', `/compute/v2.1/servers/${server.id}/metadata`)).body, { metadata: { team: 'net' } });
    const missing = await aio.openstack(['server', 'unset', '--property', 'env', 'pr-vm2']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Metadata item was not found \(HTTP 404\)/m);

    const noTags = await aio.openstack(['server', 'set', '--tag', 'blue', 'pr-vm2']);
    assert.equal(noTags.code, 1);
    assert.match(noTags.stderr, /--os-compute-api-version 2.26 or greater is required to support the --tag option/);
    const tagged = await aio.openstack(['--os-compute-api-version', '2.26', 'server', 'set', '--tag', 'blue', '--tag', 'green', 'pr-vm2']);
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.deepEqual((await aio.openstackJson([...V273, 'server', 'show', 'pr-vm2'])).tags, ['blue', 'green']);
    const blue = await aio.openstackJson(['--os-compute-api-version', '2.26', 'server', 'list', '--tags', 'blue']);
    assert.deepEqual(blue.map((s: any) => s.ID), [server.id]);
    assert.equal((await aio.openstack(['--os-compute-api-version', '2.26', 'server', 'unset', '--tag', 'blue', 'pr-vm2'])).code, 0);
    assert.deepEqual(await aio.openstackJson(['--os-compute-api-version', '2.26', 'server', 'list', '--tags', 'blue']), []);
    const badTag = await aio.api('PUT', `/compute/v2.1/servers/${server.id}/tags/a,b`, undefined, { headers: { 'openstack-api-version': 'compute 2.26' } });
    assert.equal(badTag.status, 400);
    assert.equal(badTag.body.badRequest.message, "Tag 'a,b' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: 'a,b' does not match '^[^,/]*$'");

    // Metadata changes need an idle server in a settled state (Nova); tags only a settled state.
    assert.equal((await aio.openstack(['server', 'shelve', 'pr-vm2'])).code, 0);
    await aio.waitForServer(server.id, ['SHELVED_OFFLOADED']);
    const shelvedProp = await aio.openstack(['server', 'set', '--property', 'env=dev', 'pr-vm2']);
    assert.equal(shelvedProp.code, 1);
    assert.match(shelvedProp.stderr, new RegExp(`^Cannot 'update metadata' instance ${server.id} while it is in vm_state shelved_offloaded \\(HTTP 409\\)`, 'm'));
    const shelvedTag = await aio.openstack(['--os-compute-api-version', '2.26', 'server', 'set', '--tag', 'red', 'pr-vm2']);
    assert.equal(shelvedTag.code, 1);
    assert.match(shelvedTag.stderr, new RegExp(`^Cannot 'update tag' instance ${server.id} while it is in vm_state shelved_offloaded \\(HTTP 409\\)`, 'm'));
    await deleteServerByName(aio, 'pr-vm2');
  });
});
