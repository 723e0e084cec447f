/**
 * A cold move must not hand a vDPA device back to the pool while a guest on
 * that host still holds it open (QEMU's open of /dev/vhost-vdpa-N by the next
 * guest would fail with EBUSY). Found by the chaos test (chaosCluster.test.ts):
 * a resize's destination spawn failed with "Unable to open
 * '/dev/vhost-vdpa-0' for vdpa device: Device or resource busy".
 *
 *  - revert: the destination's claims were freed when the revert was
 *    accepted, while the destination guest still ran with its devices;
 *  - confirm: VERIFY_RESIZE was reached as soon as the destination ran,
 *    before the source guest was off, and confirm frees the source's claims.
 *
 * Made deterministic with hung simulated calls (docs/inventory.md `faults`):
 * the host never finishes removing (or powering off) the guest, and the next
 * server is placed on that host alone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { vdpaHost } from '../helpers/allInOneProcess.js';
import { startCluster, type Cluster, type ControllerProcess } from '../helpers/cluster.js';

const V253 = { 'openstack-api-version': 'compute 2.53' };

describe('cold moves free a host\'s devices only once its guest let go of them', () => {
  let cluster: Cluster;
  let c: ControllerProcess;

  before(async () => {
    cluster = await startCluster({ controllers: 1, config: { reconcile_interval: 1 } });
    c = cluster.controllers[0]!;
  });

  after(async () => {
    await cluster?.stop();
  });

  async function serviceId(host: string): Promise<string> {
    return (await c.api('GET', `/compute/v2.1/os-services?host=${host}`)).body.services[0].id;
  }
  async function setEnabled(host: string, enabled: boolean): Promise<void> {
    const r = await c.api('PUT', `/compute/v2.1/os-services/${await serviceId(host)}`, { status: enabled ? 'enabled' : 'disabled' }, V253);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  }
  async function action(id: string, body: unknown): Promise<void> {
    const r = await c.api('POST', `/compute/v2.1/servers/${id}/action`, body);
    // resize, revertResize and migrate: Nova's 202.
    assert.equal(r.status, 202, `${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  async function devicesOf(id: string): Promise<string[]> {
    const rows = await cluster.query('select host, address from pci_devices where instance_uuid = $1 order by host, address', [id]);
    return rows.map((r) => `${r.host}/${r.address}`);
  }
  async function bootOn(host: string, others: string[], name: string): Promise<any> {
    for (const h of others) await setEnabled(h, false);
    try {
      const id = await cluster.bootServer(c, name);
      return await c.waitForServer(id, ['ACTIVE', 'ERROR'], 30_000);
    } finally {
      for (const h of others) await setEnabled(h, true);
    }
  }

  test('revert: the destination\'s devices stay claimed until its guest is gone', { timeout: 90_000 }, async () => {
    await cluster.startAgent(vdpaHost('rv-src'), { controller: 0 });
    const s1 = await cluster.bootServer(c, 'reverted');
    assert.equal((await c.waitForServer(s1, ['ACTIVE', 'ERROR'], 30_000)).status, 'ACTIVE');
    // The destination never finishes removing a guest.
    await cluster.startAgent({ ...vdpaHost('rv-dst'), faults: { destroy: { hang: true } } }, { controller: 0 });
    await action(s1, { resize: { flavorRef: '2' } });
    const resized = await c.waitForServer(s1, ['VERIFY_RESIZE', 'ERROR'], 30_000);
    assert.equal(resized.status, 'VERIFY_RESIZE', JSON.stringify(resized.fault ?? resized));
    const onDest = (await devicesOf(s1)).filter((d) => d.startsWith('rv-dst/'));
    assert.equal(onDest.length, 1);
    await action(s1, { revertResize: null });
    // Its guest on rv-dst is asked to go, and never does: the device it holds is not free.
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok((await devicesOf(s1)).includes(onDest[0]!), `${onDest[0]} was freed while the destination guest still holds it`);

    const next = await bootOn('rv-dst', ['rv-src'], 'after-revert');
    assert.equal(next.status, 'ACTIVE', `the next server on rv-dst: ${JSON.stringify(next.fault ?? next)}`);
    assert.ok(!(await devicesOf(next.id)).includes(onDest[0]!));
  });

  test('confirm: VERIFY_RESIZE only once the source guest is off', { timeout: 90_000 }, async () => {
    // The source never finishes powering a guest off.
    await cluster.startAgent({ ...vdpaHost('cf-src'), faults: { power_off: { hang: true } } }, { controller: 0 });
    const s = await bootOn('cf-src', ['rv-src', 'rv-dst'], 'confirmed');
    assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault ?? s));
    const onSource = await devicesOf(s.id);
    await cluster.startAgent(vdpaHost('cf-dst'), { controller: 0 });
    for (const h of ['rv-src', 'rv-dst']) await setEnabled(h, false);
    try {
      await action(s.id, { migrate: null });
      await new Promise((r) => setTimeout(r, 2500));
      const now = (await c.api('GET', `/compute/v2.1/servers/${s.id}`)).body.server;
      // Not VERIFY_RESIZE while the source guest still runs: a confirm would free ${onSource[0]} under it.
      assert.equal(now.status, 'RESIZE', JSON.stringify(now));
      assert.equal(now['OS-EXT-STS:task_state'], 'resize_migrating', JSON.stringify(now));
      assert.deepEqual((await devicesOf(s.id)).filter((d) => d.startsWith('cf-src/')), onSource);
    } finally {
      for (const h of ['rv-src', 'rv-dst']) await setEnabled(h, true);
    }
  });
});
