import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { openStore } from '../../src/storage/db.js';
import { CATALOG_TTL_MS, catalogChanged, flavorSnapshot } from '../../src/storage/repositories/lookups.js';
import type { Database } from '../../src/storage/schema.js';
import { asUnit } from '../helpers/storageAccess.js';

const addFlavor = (db: Kysely<Database>, id: string, vcpus: number) => db.insertInto('flavors').values({
  id, name: `f-${id}`, vcpus, ram: 512, disk: 1, ephemeral: 0, swap: 0, is_public: 1, rxtx_factor: 1, description: null, created_at: 'now',
}).execute();

test('flavor lookups: kept for a moment, forgotten on a local change, re-read after the TTL, never cached when missing', { timeout: 120_000 }, async () => {
  const store = await openStore(':memory:');
  const { db } = store;
  try {
    await addFlavor(db, 'a', 1);
    assert.equal((await flavorSnapshot(asUnit(db), 'a'))?.vcpus, 1);

    // Another controller process changes it: this one may answer from what it read a moment ago...
    await db.updateTable('flavors').set({ vcpus: 2 }).where('id', '=', 'a').execute();
    assert.equal((await flavorSnapshot(asUnit(db), 'a'))?.vcpus, 1);
    // ...but inside a transaction the database answers,
    assert.equal((await store.transact((trx) => flavorSnapshot(trx, 'a')))?.vcpus, 2);
    // and a change made through this process is seen at once.
    catalogChanged();
    assert.equal((await flavorSnapshot(asUnit(db), 'a'))?.vcpus, 2);

    await db.updateTable('flavors').set({ vcpus: 3 }).where('id', '=', 'a').execute();
    await sleep(CATALOG_TTL_MS + 50);
    assert.equal((await flavorSnapshot(asUnit(db), 'a'))?.vcpus, 3, 'seen after the TTL');

    // A flavor that did not exist is found as soon as it does.
    assert.equal(await flavorSnapshot(asUnit(db), 'b'), null);
    await addFlavor(db, 'b', 4);
    assert.equal((await flavorSnapshot(asUnit(db), 'b'))?.vcpus, 4);
    // Extra specs come with it (one row per spec).
    await db.insertInto('flavor_extra_specs').values([
      { flavor_id: 'b', key: 'hw:cpu_policy', value: 'dedicated' }, { flavor_id: 'b', key: 'pci_passthrough:alias', value: 'x:1' },
    ]).execute();
    catalogChanged();
    assert.deepEqual((await flavorSnapshot(asUnit(db), 'f-b'))?.extra_specs, { 'hw:cpu_policy': 'dedicated', 'pci_passthrough:alias': 'x:1' });
  } finally {
    await store.close();
  }
});
