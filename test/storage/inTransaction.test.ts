/**
 * execute() (src/storage/inTransaction.ts) on a real SQLite store: inside a
 * transaction a statement runs on that transaction's connection directly
 * (it sees the transaction's writes, a rollback undoes its own, errors
 * reject like Kysely's); outside one it still waits for the connection, so
 * a statement of another caller never runs inside someone's open
 * transaction.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQuery, type Kysely } from 'kysely';
import { openStore } from '../../src/storage/db.js';
import { execute } from '../../src/storage/inTransaction.js';
import type { Database } from '../../src/storage/schema.js';
import { kysely } from '../helpers/storageAccess.js';

const insert = (id: string) => CompiledQuery.raw(
  `insert into images (id, name, status, visibility, owner, disk_format, container_format, size, min_disk, min_ram, protected, properties, created_at, updated_at)
   values (?, 'x', 'active', 'public', 'p', 'qcow2', 'bare', 1, 0, 0, 0, '{}', 'now', 'now')`, [id]);
const ids = async (db: Kysely<Database>) =>
  (await execute(db, CompiledQuery.raw('select id from images order by id'))).rows.map((r) => (r as { id: string }).id);

describe('execute', () => {
  test('SQLite: runs on the transaction it is given, and only waits outside one', { timeout: 120_000 }, async () => {
    const store = await openStore(':memory:');
    try {
      const written = await execute(store.db, insert('outside'));
      assert.equal(written.numAffectedRows, 1n);

      let release!: () => void;
      const held = new Promise<void>((r) => { release = r; });
      let seenInside: string[] = [];
      const trx = store.db.transaction().execute(async (t) => {
        const r = await execute(t, insert('inside'));
        assert.equal(r.numAffectedRows, 1n);
        seenInside = await ids(t);
        await held;
        throw new Error('roll back');
      });
      // Another caller's statement, while that transaction holds the connection: it must wait for its end.
      const outside = ids(store.db);
      let outsideDone = false;
      void outside.then(() => { outsideDone = true; });
      await new Promise((r) => setImmediate(r));
      assert.equal(outsideDone, false, 'a statement outside the transaction waits for the connection');
      release();
      await assert.rejects(trx, /roll back/);
      assert.deepEqual(seenInside, ['inside', 'outside']);
      assert.deepEqual(await outside, ['outside'], 'the rolled-back write was never visible outside');

      await store.transact(async (t) => {
        await assert.rejects(execute(kysely(t), insert('outside')), /UNIQUE constraint failed/);
        await assert.rejects(execute(kysely(t), CompiledQuery.raw('select * from no_such_table')), /no such table/);
      });
      assert.deepEqual(await ids(store.db), ['outside']);
    } finally {
      await store.close();
    }
  });
});
