import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openStore, type Store } from '../../src/storage/db.js';
import { precompiled } from '../../src/storage/precompiled.js';
import { withPostgresDatabase } from '../helpers/testController.js';
import { kysely } from '../helpers/storageAccess.js';

const insertImage = precompiled<{ id: string; name: string; minRam: number }>((db, p) => db.insertInto('images').values({
  id: p.id, name: p.name, status: 'active', visibility: 'public', owner: null, disk_format: 'qcow2', container_format: 'bare',
  min_disk: 0, min_ram: p.minRam, size: 0, protected: 0, properties: '{}', created_at: 'now', updated_at: 'now',
}));

// Values used twice and in expressions, mixed with values fixed at build time.
const raiseMinRam = precompiled<{ id: string; by: number; atMost: number }>((db, p) => db.updateTable('images')
  .set({ min_ram: sql`min_ram + ${p.by}` })
  .where('id', '=', p.id).where('status', '=', 'active')
  .where(sql<boolean>`min_ram + ${p.by} <= ${p.atMost}`));

const imagesNamed = precompiled<{ name: string }, { id: string; min_ram: number }>((db, p) => db.selectFrom('images')
  .select(['id', 'min_ram']).where('name', '=', p.name).orderBy('id'));

async function exercise(store: Store): Promise<void> {
  const { db } = store;
  await insertImage.run(db, { id: 'a', name: 'same', minRam: 1 });
  await insertImage.run(db, { id: 'b', name: 'same', minRam: 10 });
  await insertImage.run(db, { id: 'c', name: 'other', minRam: 5 });
  assert.deepEqual((await imagesNamed.run(db, { name: 'same' })).rows, [{ id: 'a', min_ram: 1 }, { id: 'b', min_ram: 10 }]);

  const raised = await raiseMinRam.run(db, { id: 'a', by: 4, atMost: 8 });
  assert.equal(Number(raised.numAffectedRows), 1);
  const refused = await raiseMinRam.run(db, { id: 'a', by: 4, atMost: 8 }); // 5 + 4 > 8
  assert.equal(Number(refused.numAffectedRows), 0);
  // Inside a transaction the same prebuilt statement runs on the transaction's connection.
  await store.transact(async (trx) => {
    await raiseMinRam.run(kysely(trx), { id: 'c', by: 1, atMost: 100 });
    assert.deepEqual((await imagesNamed.run(kysely(trx), { name: 'other' })).rows, [{ id: 'c', min_ram: 6 }]);
  });
  assert.deepEqual((await imagesNamed.run(db, { name: 'same' })).rows, [{ id: 'a', min_ram: 5 }, { id: 'b', min_ram: 10 }]);
  assert.match(imagesNamed.sql(db), /select "id", "min_ram" from "images" where "name" = (\?|\$1) order by "id"/);
}

describe('precompiled statements', () => {
  test('SQLite: each run takes its own values, fixed values stay', { timeout: 300_000 }, async () => {
    const store = await openStore(':memory:');
    try {
      await exercise(store);
    } finally {
      await store.close();
    }
  });

  test('PostgreSQL: the same statements, compiled for its dialect', { timeout: 300_000 }, async () => {
    await withPostgresDatabase(async (url) => {
      const store = await openStore(url);
      try {
        await exercise(store);
      } finally {
        await store.close();
      }
    });
  });
});
