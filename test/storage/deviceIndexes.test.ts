/**
 * The storage layout a claim's cost depends on (migration 005 and the page
 * size of a new SQLite file), checked on real databases: the claim's and
 * release's device queries go through the indexes meant for them, the
 * consumer index holds claimed devices only, and an existing database keeps
 * the page size it was made with.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { openStore } from '../../src/storage/db.js';
import { withPostgresDatabase } from '../helpers/testController.js';

const PICK = `select * from pci_devices where host = 'h' and dev_type = 'vdpa' and physical_network = 'p'
  and status = 'available' and missing = 0 order by address limit 1`;
const IN_USE_SIBLINGS = `select * from pci_devices where host = 'h' and parent_addr = 'a' and status in ('claimed', 'allocated')`;
const HELD = `select * from pci_devices where consumer = 'c' order by address`;

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'vdpa-indexes-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function planOf(file: string, query: string): string {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return (db.prepare(`explain query plan ${query}`).all() as Array<{ detail: string }>).map((r) => r.detail).join('; ');
  } finally {
    db.close();
  }
}

describe('device indexes and page size', () => {
  test('SQLite: a new database has 2 KiB pages and the claim queries use their indexes', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'new.sqlite');
      const store = await openStore(file);
      await store.close();
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        assert.equal(db.pragma('page_size', { simple: true }), 2048);
        const indexes = db.prepare(`select name, sql from sqlite_master where type = 'index' and tbl_name = 'pci_devices' and sql is not null`)
          .all() as Array<{ name: string; sql: string }>;
        assert.deepEqual(indexes.map((i) => i.name).sort(), ['pci_devices_consumer', 'pci_devices_pick']);
        assert.match(indexes.find((i) => i.name === 'pci_devices_consumer')!.sql, /where consumer is not null/i);
      } finally {
        db.close();
      }
      assert.match(planOf(file, PICK), /USING INDEX pci_devices_pick \(host=\? AND status=\? AND dev_type=\? AND physical_network=\?\)/);
      assert.doesNotMatch(planOf(file, PICK), /TEMP B-TREE/);
      assert.match(planOf(file, IN_USE_SIBLINGS), /USING INDEX pci_devices_pick \(host=\? AND status=\?\)/);
      assert.match(planOf(file, HELD), /USING INDEX pci_devices_consumer \(consumer=\?\)/);
    });
  });

  test('SQLite: an existing database keeps its page size', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'old.sqlite');
      const old = new BetterSqlite3(file);
      old.pragma('page_size = 4096');
      old.exec('create table made_before (a integer)');
      old.close();
      const store = await openStore(file);
      await store.close();
      const db = new BetterSqlite3(file, { readonly: true });
      try {
        assert.equal(db.pragma('page_size', { simple: true }), 4096);
      } finally {
        db.close();
      }
    });
  });

  test('PostgreSQL: the same indexes, the consumer one partial', async () => {
    await withPostgresDatabase(async (url) => {
      const store = await openStore(url);
      try {
        const { rows } = await sql<{ indexname: string; indexdef: string }>`select indexname, indexdef from pg_indexes
          where tablename = 'pci_devices' and indexname like 'pci_devices_%' order by indexname`.execute(store.db);
        const defs = new Map(rows.map((r) => [r.indexname, r.indexdef]));
        assert.deepEqual([...defs.keys()].filter((n) => n !== 'pci_devices_host_address' && n !== 'pci_devices_pkey'),
          ['pci_devices_consumer', 'pci_devices_pick']);
        assert.match(defs.get('pci_devices_pick')!, /\(host, status, dev_type, physical_network, address\)/);
        assert.match(defs.get('pci_devices_consumer')!, /WHERE \(consumer IS NOT NULL\)/);
      } finally {
        await store.close();
      }
    });
  });
});
