import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG } from '../../src/config.js';
import type { ControllerContext } from '../../src/controller/context.js';
import { resourceRequestFor } from '../../src/controller/lifecycle/resources.js';
import { candidateIndexOf, scheduleAndClaim, type ScheduleOutcome } from '../../src/controller/services/scheduler.js';
import { generateInventory } from '../../src/domain/inventory/hostInventory.js';
import { requestForPort } from '../../src/domain/pci/request.js';
import { openStore, type Store } from '../../src/storage/db.js';
import { claimOnHost, releaseConsumer } from '../../src/storage/repositories/claims.js';
import { registerFleet, schedulerContext } from '../helpers/schedulerFleet.js';
import { withPostgresDatabase } from '../helpers/testController.js';
import { asUnit } from '../helpers/storageAccess.js';

const FLAVOR = { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, extra_specs: {} };

function vdpaRequest() {
  return resourceRequestFor(FLAVOR, [requestForPort({ id: randomUUID(), vnicType: 'vdpa', physicalNetwork: 'physnet0' })!]);
}

async function register(store: Store, hosts: number, vfs: number): Promise<void> {
  await registerFleet(store, generateInventory({ hosts, vfsPerHost: vfs }));
}

/** A candidate page smaller than the fleet, so the scheduler takes its candidates from the index. */
const contextOf = schedulerContext;

async function decide(ctx: ControllerContext) {
  const uuid = randomUUID();
  return scheduleAndClaim(ctx, vdpaRequest(), { consumer: uuid, instanceUuid: uuid }, async () => {});
}

async function allocatedDevices(store: Store): Promise<Array<{ host: string; address: string; instance_uuid: string | null }>> {
  return store.db.selectFrom('pci_devices').select(['host', 'address', 'instance_uuid'])
    .where('dev_type', '=', 'vdpa').where('status', '=', 'allocated').execute();
}

async function withSqlite<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-index-'));
  try {
    return await fn(join(dir, 'controller.sqlite'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('the index answers from memory, most free first, and follows this process\'s claims', { timeout: 300_000 }, async () => {
  await withSqlite(async (path) => {
    const store = await openStore(path);
    try {
      await register(store, 3, 4);
      const ctx = contextOf(store, 2);
      const index = candidateIndexOf(ctx);
      assert.equal(index.candidates(vdpaRequest(), 20, 60), null, 'cold: the database answers');
      await index.reload();
      assert.deepEqual(index.candidates(vdpaRequest(), 20, 60)!.map((h) => h.host), ['compute-0', 'compute-1', 'compute-2']);

      const first = await decide(ctx);
      assert.ok(first.placed);
      const after = index.candidates(vdpaRequest(), 20, 60)!;
      assert.equal(after.at(-1)!.host, first.host, 'the host just claimed on has the fewest free devices now');
      await index.settled();
      const row = index.candidates(vdpaRequest(), 20, 60)!.find((h) => h.host === first.host)!;
      const pool = row.pools.find((p) => p.devType === 'vdpa')!;
      assert.equal(pool.free, 3, 'the refresh from the database agrees with the adjustment');
      assert.equal(row.freeVcpus, Math.floor(32 * DEFAULT_CONFIG.cpu_allocation_ratio) - 1);

      // 12 devices in all: every one is handed out exactly once, then no valid host.
      const outcomes: ScheduleOutcome[] = [first];
      for (let i = 0; i < 12; i++) outcomes.push(await decide(ctx));
      assert.equal(outcomes.filter((o) => o.placed).length, 12);
      assert.equal(outcomes.at(-1)!.placed, false);
      const devices = await allocatedDevices(store);
      assert.equal(devices.length, 12);
      assert.equal(new Set(devices.map((d) => `${d.host}/${d.address}`)).size, 12);
      assert.deepEqual(index.candidates(vdpaRequest(), 20, 60), [], 'the index knows every host is full');
    } finally {
      await store.close();
    }
  });
});

test('concurrent decisions spread over hosts; a committed release is back in the index at once (the device feed), a rolled-back one never', { timeout: 300_000 }, async () => {
  await withSqlite(async (path) => {
    const store = await openStore(path);
    try {
      await register(store, 4, 4);
      const ctx = contextOf(store, 2);
      const index = candidateIndexOf(ctx);
      await index.reload();
      // Asked for together (one group commit), each decision sees the ones before it.
      const outcomes = await Promise.all(Array.from({ length: 4 }, () => decide(ctx)));
      assert.deepEqual(outcomes.map((o) => o.placed && o.host).sort(), ['compute-0', 'compute-1', 'compute-2', 'compute-3']);
      await index.settled();

      const freeOn = (host: string) => index.candidates(vdpaRequest(), 20, 60)!.find((h) => h.host === host)!
        .pools.find((p) => p.devType === 'vdpa')!.free;
      const first = outcomes[0] as Extract<ScheduleOutcome, { placed: true }>;
      assert.equal(freeOn(first.host), 3);
      const consumer = (await allocatedDevices(store)).find((d) => d.host === first.host)!.instance_uuid!;
      const heard: string[] = [];
      store.deviceChanges.subscribe((hosts) => heard.push(...hosts));
      await assert.rejects(store.transact(async (trx) => {
        await releaseConsumer(trx, consumer);
        throw new Error('rolled back');
      }), /rolled back/);
      assert.deepEqual(heard, [], 'a rolled-back release is not news');
      await store.transact((trx) => releaseConsumer(trx, consumer));
      assert.deepEqual(heard, [first.host]);
      await index.settled();
      assert.equal(freeOn(first.host), 4, 'read again without waiting for the full reload');
    } finally {
      await store.close();
    }
  });
});

test('a stale entry loses its claim gracefully: the next host is tried and the entry is refreshed', { timeout: 300_000 }, async () => {
  await withSqlite(async (path) => {
    const mine = await openStore(path);
    const other = await openStore(path); // a second controller process on the same database
    try {
      await register(mine, 2, 2);
      const ctx = contextOf(mine, 1);
      const index = candidateIndexOf(ctx);
      await index.reload();
      // The other process takes every device of compute-0, which this index still believes free.
      for (let i = 0; i < 2; i++) {
        const uuid = randomUUID();
        await other.db.transaction().execute((trx) => claimOnHost(asUnit(trx), {
          host: 'compute-0', consumer: uuid, instanceUuid: uuid, vcpus: 1, memoryMb: 512, diskGb: 1, pciRequests: vdpaRequest().pciRequests,
        }));
      }
      assert.ok(index.candidates(vdpaRequest(), 20, 60)!.some((h) => h.host === 'compute-0'), 'the entry is stale');

      const outcome = await decide(ctx);
      assert.ok(outcome.placed);
      assert.equal(outcome.host, 'compute-1');
      await index.settled();
      assert.deepEqual(index.candidates(vdpaRequest(), 20, 60)!.map((h) => h.host), ['compute-1'], 'compute-0 was read again: full');
      const devices = await allocatedDevices(mine);
      assert.equal(devices.length, 3);
      assert.equal(new Set(devices.map((d) => `${d.host}/${d.address}`)).size, 3);
    } finally {
      await other.close();
      await mine.close();
    }
  });
});

test('two controller processes on one PostgreSQL, each with its own warm index, never share a device', { timeout: 300_000 }, async () => {
  await withPostgresDatabase(async (url) => {
    const a = await openStore(url);
    const b = await openStore(url);
    try {
      await register(a, 3, 4);
      const ctxA = contextOf(a, 2);
      const ctxB = contextOf(b, 2);
      await Promise.all([candidateIndexOf(ctxA).reload(), candidateIndexOf(ctxB).reload()]);
      // 30 requests for 12 devices, from both processes at once.
      const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => decide(i % 2 === 0 ? ctxA : ctxB)));
      assert.equal(outcomes.filter((o) => o.placed).length, 12);
      // Both processes placed servers: the test is about two deciders, not one that always won.
      const placedByA = outcomes.filter((o, i) => o.placed && i % 2 === 0).length;
      const placedByB = outcomes.filter((o, i) => o.placed && i % 2 === 1).length;
      assert.ok(placedByA > 0, `A placed nothing (B placed ${placedByB})`);
      assert.ok(placedByB > 0, `B placed nothing (A placed ${placedByA})`);
      const devices = await allocatedDevices(a);
      assert.equal(devices.length, 12);
      assert.equal(new Set(devices.map((d) => `${d.host}/${d.address}`)).size, 12);
      assert.equal(new Set(devices.map((d) => d.instance_uuid)).size, 12);
      await Promise.all([candidateIndexOf(ctxA).settled(), candidateIndexOf(ctxB).settled()]);
    } finally {
      await b.close();
      await a.close();
    }
  });
});
