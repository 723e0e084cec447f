import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freeCount, startAllInOneProcess, vdpaHost, type AllInOneProcess } from '../helpers/allInOneProcess.js';

async function createPort(aio: AllInOneProcess, name: string): Promise<any> {
  const net = await aio.api('GET', '/network/v2.0/networks?name=vdpa-net');
  const r = await aio.api('POST', '/network/v2.0/ports', { port: { name, network_id: net.body.networks[0].id, 'binding:vnic_type': 'vdpa' } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.port;
}

async function port(aio: AllInOneProcess, id: string): Promise<any> {
  return (await aio.api('GET', `/network/v2.0/ports/${id}`)).body.port;
}

async function boot(aio: AllInOneProcess, name: string): Promise<{ server: any; port: any }> {
  const p = await createPort(aio, `${name}-port`);
  const created = await aio.openstackJson(['server', 'create', '--flavor', 'm1.tiny', '--image', 'cirros', '--port', p.id, name]);
  return { server: await aio.waitForServer(created.id, ['ACTIVE']), port: p };
}

async function lastMigration(aio: AllInOneProcess, serverId: string): Promise<any> {
  const r = await aio.api('GET', `/compute/v2.1/os-migrations?instance_uuid=${serverId}`, undefined, { headers: { 'openstack-api-version': 'compute 2.23' } });
  return r.body.migrations[0];
}

const flavorName = (s: any): string => s.flavor.original_name ?? s.flavor.id;
const MV = { headers: { 'openstack-api-version': 'compute 2.47' } };

/** Without the option a single host has no destination: Nova's 202, then back to ACTIVE with the migration in error. */
describe('resize and migrate with no other host', () => {
  let aio: AllInOneProcess;
  before(async () => {
    aio = await startAllInOneProcess({ hosts: [vdpaHost('compute-0')] });
  });
  after(async () => { await aio?.stop(); });

  test('No valid host: server ACTIVE again, fault recorded, nothing claimed', async () => {
    const { server, port: p } = await boot(aio, 'alone-vm');
    const binding = (await port(aio, p.id))['binding:profile'];

    for (const [args, type] of [[['server', 'resize', '--flavor', 'm1.small', 'alone-vm'], 'resize'], [['server', 'migrate', 'alone-vm'], 'migration']] as const) {
      const r = await aio.openstack([...args]);
      assert.equal(r.code, 0, r.stderr);
      const m = await (async () => {
        for (let i = 0; i < 200; i++) {
          const x = await lastMigration(aio, server.id);
          if (x?.migration_type === type && x.status === 'error') return x;
          await new Promise((res) => setTimeout(res, 50));
        }
        throw new Error(`the ${type} did not fail`);
      })();
      assert.equal(m.dest_compute, null);
      const s = await aio.waitForServer(server.id, ['ACTIVE']);
      assert.equal(s['OS-EXT-STS:task_state'], null);
      assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute-0');
      assert.equal(freeCount(await aio.pci('compute-0')), 3);
      assert.deepEqual((await port(aio, p.id))['binding:profile'], binding);
    }
    const show = await aio.api('GET', `/compute/v2.1/servers/${server.id}`, undefined, MV);
    assert.equal(flavorName(show.body.server), 'm1.tiny');
    const actions = (await aio.api('GET', `/compute/v2.1/servers/${server.id}/os-instance-actions`)).body.instanceActions;
    assert.deepEqual(actions.slice(0, 2).map((a: any) => [a.action, a.message]), [
      ['migrate', 'No valid host was found. There are not enough hosts available.'],
      ['resize', 'No valid host was found. There are not enough hosts available.'],
    ]);
  });
});
