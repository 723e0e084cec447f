import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { CHECKPOINT_INTERVAL_MS, FALLBACK_AUTOCHECKPOINT_BYTES } from '../../src/storage/checkpointer.js';
import { openStore } from '../../src/storage/db.js';
import { sqliteFileWithPageSize } from '../helpers/sqliteFiles.js';
import { kysely } from '../helpers/storageAccess.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('WAL checkpoints on their own thread (SQLite)', () => {
  test('committed pages reach the database file without the serving connection checkpointing', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vdpa-checkpointer-'));
    const file = join(dir, 'db.sqlite');
    const store = await openStore(file);
    try {
      const [{ wal_autocheckpoint: fallback }] = (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows as [{ wal_autocheckpoint: number }];
      // The net is a size: 64 MB of this database's 2 KiB pages.
      assert.equal(fallback, FALLBACK_AUTOCHECKPOINT_BYTES / 2048);
      await sql`create table filler (id integer primary key, v text not null)`.execute(store.db);
      const before = (await stat(file)).size;
      // About 2 MB: far below the fallback threshold, so only the checkpoint thread can move it.
      for (let batch = 0; batch < 10; batch++) {
        await store.transact(async (trx) => {
          for (let i = 0; i < 100; i++) await sql`insert into filler (v) values (${'x'.repeat(2000)})`.execute(kysely(trx));
        });
      }
      let size = before;
      for (let waited = 0; waited < 50 * CHECKPOINT_INTERVAL_MS && size < before + 1_500_000; waited += CHECKPOINT_INTERVAL_MS) {
        await sleep(CHECKPOINT_INTERVAL_MS);
        size = (await stat(file)).size;
      }
      assert.ok(size >= before + 1_500_000, `database file grew from ${before} to ${size} bytes`);
      // What was copied is the committed data: a copy of the database file alone, without its WAL, holds it.
      const fileOnly = join(dir, 'file-only.sqlite');
      await copyFile(file, fileOnly);
      const reader = new BetterSqlite3(fileOnly);
      try {
        assert.equal((reader.prepare('select count(*) as n from filler').get() as { n: number }).n, 1000);
      } finally {
        reader.close();
      }
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the safety net is the same size for a database of other pages (one made with 4 KiB pages)', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vdpa-checkpointer-'));
    const file = join(dir, 'old.sqlite');
    sqliteFileWithPageSize(file, 4096);
    const store = await openStore(file);
    try {
      const [{ wal_autocheckpoint: fallback }] = (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows as [{ wal_autocheckpoint: number }];
      assert.equal(fallback, FALLBACK_AUTOCHECKPOINT_BYTES / 4096);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an in-memory database keeps SQLite\'s own checkpoint setting and starts no thread', { timeout: 120_000 }, async () => {
    const store = await openStore(':memory:');
    try {
      const [{ wal_autocheckpoint: pages }] = (await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db)).rows as [{ wal_autocheckpoint: number }];
      assert.equal(pages, 1000);
    } finally {
      await store.close();
    }
  });
});
