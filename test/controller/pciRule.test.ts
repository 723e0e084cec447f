import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ControllerContext } from '../../src/controller/context.js';
import { resourceRequestFor } from '../../src/controller/lifecycle/resources.js';
import { candidateIndexOf, scheduleAndClaim } from '../../src/controller/services/scheduler.js';
import { generateInventory, type HostInventoryEntry } from '../../src/domain/inventory/hostInventory.js';
import { requestForPort, type PciRequest } from '../../src/domain/pci/request.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { registerFleet, schedulerContext } from '../helpers/schedulerFleet.js';

/**
 * The rule (domain/pci/match.ts) through the real scheduler, on both of its
 * paths: the controller's candidate index (a fleet larger than a candidate
 * page) and the database's candidate query (a page holds the fleet).
 */
const FLAVOR = { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, extra_specs: {} };

/** Two vdpa hosts on physnet0, a host with two Intel VF models (one VF each, physnet1) and a host whose vdpa VFs have no physnet. */
function fleet(): HostInventoryEntry[] {
  const [a, b, c, d] = generateInventory({ hosts: 4, vfsPerHost: 2 });
  const intel: HostInventoryEntry = {
    ...c!, name: 'intel-0',
    deviceSpec: [
      { vendor_id: '8086', product_id: '154c', physical_network: 'physnet1' },
      { vendor_id: '8086', product_id: '1520', physical_network: 'physnet1' },
    ],
    nics: [
      { pf: '0000:81:00.0', vendorId: '8086', productId: '1572', numaNode: 0, vfs: 1, vfProductId: '154c', vdpa: false, devname: null },
      { pf: '0000:82:00.0', vendorId: '8086', productId: '1521', numaNode: 0, vfs: 1, vfProductId: '1520', vdpa: false, devname: null },
    ],
  };
  const tunnel: HostInventoryEntry = { ...d!, name: 'tunnel-0', deviceSpec: [{ vendor_id: '15b3', product_id: '101e' }] };
  return [a!, b!, intel, tunnel];
}

async function register(store: Store): Promise<void> {
  await registerFleet(store, fleet());
}

const contextOf = schedulerContext;

/** An alias with a vendor and no product id: any Intel VF, tagged or not. */
const anyIntelVfs = (count: number): PciRequest => ({ id: 'alias-intel', count, spec: { devType: 'type-VF', vendorId: '8086' }, source: { kind: 'alias', alias: 'intel' } });
const vdpaPort = (physicalNetwork: string | null): PciRequest => requestForPort({ id: randomUUID(), vnicType: 'vdpa', physicalNetwork })!;

async function place(ctx: ControllerContext, pciRequests: PciRequest[]) {
  const uuid = randomUUID();
  return scheduleAndClaim(ctx, resourceRequestFor(FLAVOR, pciRequests), { consumer: uuid, instanceUuid: uuid }, async () => {});
}

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-rule-'));
  const store = await openStore(join(dir, 'controller.sqlite'));
  try {
    await register(store);
    await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('the candidate index answers an alias request (a page of 1 is smaller than the fleet)', { timeout: 120_000 }, async () => {
  await withStore(async (store) => {
    const index = candidateIndexOf(contextOf(store, 1));
    await index.reload();
    assert.ok(index.candidates(resourceRequestFor(FLAVOR, [anyIntelVfs(2)]), 1, 60));
  });
});

for (const [path, limit] of [['the candidate index', 1], ['the database query', 20]] as const) {
  test(`${path}: 2 devices that only two pools together hold are placed; the rule decides physnet, untagged and competing requests`, { timeout: 120_000 }, async () => {
    await withStore(async (store) => {
      const ctx = contextOf(store, limit);
      const index = candidateIndexOf(ctx);
      await index.reload();

      const spread = await place(ctx, [anyIntelVfs(2)]);
      assert.ok(spread.placed, JSON.stringify(spread));
      assert.equal(spread.host, 'intel-0');
      assert.deepEqual(spread.claimed.map((c) => c.device.productId).sort(), ['1520', '154c']);
      await index.settled();
      const none = await place(ctx, [anyIntelVfs(1)]);
      assert.equal(none.placed, false, 'both Intel VFs are taken');

      // A port on a network without a physical network takes only untagged devices (Nova: {physical_network: None}).
      const tunnel = await place(ctx, [vdpaPort(null)]);
      assert.ok(tunnel.placed);
      assert.equal(tunnel.host, 'tunnel-0');
      // A port on physnet0 never gets them; two ports on one server compete for the same pools.
      const two = await place(ctx, [vdpaPort('physnet0'), vdpaPort('physnet0')]);
      assert.ok(two.placed);
      assert.ok(['compute-0', 'compute-1'].includes(two.host), two.host);
      await index.settled();
      const three = await place(ctx, [vdpaPort('physnet0'), vdpaPort('physnet0'), vdpaPort('physnet0')]);
      assert.equal(three.placed, false, 'no host has three vdpa VFs on physnet0 (tunnel-0\'s are untagged)');
      const lastTunnel = await place(ctx, [vdpaPort(null)]);
      assert.ok(lastTunnel.placed);
      assert.equal(lastTunnel.host, 'tunnel-0');
      await index.settled();
      const noTunnel = await place(ctx, [vdpaPort(null)]);
      assert.equal(noTunnel.placed, false, 'tagged devices never serve a port without a physnet');
      await index.settled();
    });
  });
}
