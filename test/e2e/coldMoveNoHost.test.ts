import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';
import { bootOnNewPort, EMBEDDED_FLAVOR, flavorName, instanceActions, lastMigration, showPort, until } from '../helpers/e2eFixtures.js';

/** Without the option a single host has no destination: Nova's 202, then back to ACTIVE with the migration in error. */
describe('resize and migrate with no other host', () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')] });
  });
  after(async () => { await aio?.stop(); });

  test('No valid host: server ACTIVE again, fault recorded, nothing claimed', { timeout: 300_000 }, async () => {
    const { server, port: p } = await bootOnNewPort(aio, 'alone-vm');
    const binding = (await showPort(aio, p.id))['binding:profile'];

    for (const [args, type] of [[['server', 'resize', '--flavor', 'm1.small', 'alone-vm'], 'resize'], [['server', 'migrate', 'alone-vm'], 'migration']] as const) {
      const r = await aio.openstack([...args]);
      assert.equal(r.code, 0, r.stderr);
      const m = await until(`the ${type} to fail`, async () => {
        const x = await lastMigration(aio, server.id);
        return x?.migration_type === type && x.status === 'error' ? x : null;
      }, 10_000);
      assert.equal(m.dest_compute, null);
      const s = await aio.waitForServer(server.id, ['ACTIVE']);
      assert.equal(s['OS-EXT-STS:task_state'], null);
      assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute-0');
      assert.equal(freeCount(await aio.pci('compute-0')), 3);
      assert.deepEqual((await showPort(aio, p.id))['binding:profile'], binding);
    }
    const show = await aio.api('GET', `/compute/v2.1/servers/${server.id}`, undefined, EMBEDDED_FLAVOR);
    assert.equal(flavorName(show.body.server), 'm1.tiny');
    const actions = await instanceActions(aio, server.id);
    assert.deepEqual(actions.slice(0, 2).map((a: any) => [a.action, a.message]), [
      ['migrate', 'No valid host was found. There are not enough hosts available.'],
      ['resize', 'No valid host was found. There are not enough hosts available.'],
    ]);
  });
});
