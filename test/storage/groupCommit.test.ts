import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { openStore, type Store } from '../../src/storage/db.js';
import type { Database } from '../../src/storage/schema.js';
import { kysely } from '../helpers/storageAccess.js';

async function withStore(fn: (store: Store, file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-group-commit-'));
  const file = join(dir, 'db.sqlite');
  const store = await openStore(file);
  try {
    await fn(store, file);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const insertImage = (trx: Kysely<Database>, id: string) => trx.insertInto('images').values({
  id, name: id, status: 'active', visibility: 'public', owner: null, disk_format: 'qcow2', container_format: 'bare',
  min_disk: 0, min_ram: 0, size: 0, protected: 0, properties: '{}', created_at: 'now', updated_at: 'now',
}).execute();

/** What another connection sees: only committed rows. */
function committedImages(file: string): string[] {
  const reader = new BetterSqlite3(file, { readonly: true });
  try {
    return (reader.prepare('select id from images order by id').all() as Array<{ id: string }>).map((r) => r.id);
  } finally {
    reader.close();
  }
}

describe('group commit (SQLite)', () => {
  test('transactions asked for together share one commit; a failing one is rolled back alone', { timeout: 120_000 }, async () => {
    await withStore(async (store, file) => {
      const seenAtAnswer: Record<string, string[]> = {};
      const answered = ['a', 'b', 'c'].map((id) => store.transact(async (trx) => {
        await insertImage(kysely(trx), id);
        if (id === 'b') throw new Error('b changed its mind');
        return id.toUpperCase();
      }).then((v) => { seenAtAnswer[id] = committedImages(file); return v; }));
      const results = await Promise.allSettled(answered);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      assert.equal((results[0] as PromiseFulfilledResult<string>).value, 'A');
      assert.match(String((results[1] as PromiseRejectedResult).reason), /b changed its mind/);
      // Each caller was answered after the commit: its own row was already visible to another connection.
      assert.deepEqual(seenAtAnswer.a, ['a', 'c']);
      assert.deepEqual(seenAtAnswer.c, ['a', 'c']);
      assert.deepEqual(committedImages(file), ['a', 'c']);
    });
  });

  test('a unit sees the writes of the units before it in the same batch', { timeout: 120_000 }, async () => {
    await withStore(async (store) => {
      const first = store.transact((trx) => insertImage(kysely(trx), 'x'));
      const second = store.transact(async (trx) => {
        const row = await kysely(trx).selectFrom('images').select('id').where('id', '=', 'x').executeTakeFirst();
        return row?.id ?? null;
      });
      await first;
      assert.equal(await second, 'x');
    });
  });

  test('a unit that ends the whole transaction fails the units before it and the later ones still run', { timeout: 120_000 }, async () => {
    await withStore(async (store, file) => {
      const before = store.transact((trx) => insertImage(kysely(trx), 'before'));
      const breaker = store.transact(async (trx) => {
        await insertImage(kysely(trx), 'breaker');
        await sql`rollback`.execute(kysely(trx));
        throw new Error('disk went away');
      });
      const after = store.transact((trx) => insertImage(kysely(trx), 'after'));
      const results = await Promise.allSettled([before, breaker, after]);
      assert.equal(results[0].status, 'rejected');
      assert.match(String((results[0] as PromiseRejectedResult).reason), /disk went away/);
      assert.equal(results[1].status, 'rejected');
      assert.equal(results[2].status, 'fulfilled');
      assert.deepEqual(committedImages(file), ['after']);
    });
  });

  test('many units at once: every one answered, every row committed', { timeout: 120_000 }, async () => {
    await withStore(async (store, file) => {
      const ids = Array.from({ length: 600 }, (_, i) => `img-${String(i).padStart(4, '0')}`);
      await Promise.all(ids.map((id) => store.transact((trx) => insertImage(kysely(trx), id))));
      assert.deepEqual(committedImages(file), ids);
    });
  });
});
