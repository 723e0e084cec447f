import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openStore } from '../../src/storage/db.js';
import { withPostgresDatabase } from '../helpers/testController.js';
import { kysely } from '../helpers/storageAccess.js';

test('PostgreSQL: a statement seen again runs prepared; a one-off stays unnamed; results are the same', { timeout: 300_000 }, async () => {
  await withPostgresDatabase(async (url) => {
    const store = await openStore(url);
    try {
      const names = async () => store.transact(async (trx) => {
        const r = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(kysely(trx));
        return r.rows.map((row) => row.statement);
      });
      const byName = (name: string) => store.db.selectFrom('images').select('id').where('name', '=', name).execute();
      assert.deepEqual(await byName('a'), []);
      assert.ok(!(await names()).some((s) => s.includes('from "images"')), 'prepared after one use');
      // A pool of several connections: enough runs that the transaction's connection prepared it too.
      for (let i = 0; i < 30; i++) assert.deepEqual(await byName(`n${i}`), []);
      // pg_prepared_statements is per connection: look from the connection that ran it.
      const prepared = await store.transact(async (trx) => {
        await kysely(trx).selectFrom('images').select('id').where('name', '=', 'x').execute();
        const r = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(kysely(trx));
        return r.rows.map((row) => row.statement);
      });
      assert.ok(prepared.includes('select "id" from "images" where "name" = $1'), prepared.join('\n'));
    } finally {
      await store.close();
    }
  });
});
