/**
 * Deferred writes (src/storage/pipelining.ts) and the PostgreSQL
 * connection that pipelines them with the transaction's next statement
 * (src/storage/pgConnection.ts, pgPipeline.ts), on a real database of each
 * kind: same results as running each write at once, checks that fail the
 * transaction, database errors that name their cause, and nothing committed
 * past a failure.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { openStore, type Store } from '../../src/storage/db.js';
import { deferWrite, readLater } from '../../src/storage/pipelining.js';
import type { Database } from '../../src/storage/schema.js';
import { withPostgresDatabase } from '../helpers/testController.js';
import { kysely } from '../helpers/storageAccess.js';

class Taken extends Error {}

const insertImage = (db: Kysely<Database>, id: string, name: string) => db.insertInto('images').values({
  id, name, status: 'active', visibility: 'public', owner: 'p', disk_format: 'qcow2', container_format: 'bare',
  size: 1, min_disk: 0, min_ram: 0, protected: 0, properties: '{}', created_at: 'now', updated_at: 'now',
}).compile();
const rename = (db: Kysely<Database>, id: string, from: string, to: string) =>
  db.updateTable('images').set({ name: to }).where('id', '=', id).where('name', '=', from).compile();
const names = async (db: Kysely<Database>) =>
  (await db.selectFrom('images').select(['id', 'name']).orderBy('id').execute()).map((r) => `${r.id}:${r.name}`);

async function checks(store: Store): Promise<void> {
  const { db } = store;
  const mustRename = () => new Taken('renamed meanwhile');

  // Deferred writes run in order, before the statement that follows them, in the same transaction.
  const seen = await store.transact(async (trx) => {
    await deferWrite(kysely(trx), insertImage(kysely(trx), 'a', 'one'));
    await deferWrite(kysely(trx), rename(kysely(trx), 'a', 'one', 'two'), mustRename);
    await deferWrite(kysely(trx), insertImage(kysely(trx), 'b', 'three'));
    return names(kysely(trx));
  });
  assert.deepEqual(seen, ['a:two', 'b:three']);
  assert.deepEqual(await names(db), ['a:two', 'b:three']);

  // Writes left pending at the end go out with the commit.
  await store.transact(async (trx) => {
    await deferWrite(kysely(trx), rename(kysely(trx), 'b', 'three', 'four'));
    await deferWrite(kysely(trx), insertImage(kysely(trx), 'c', 'five'));
  });
  assert.deepEqual(await names(db), ['a:two', 'b:four', 'c:five']);

  // A failed check fails the transaction with its error; nothing of it commits, even when nothing followed it.
  await assert.rejects(store.transact(async (trx) => {
    await deferWrite(kysely(trx), insertImage(kysely(trx), 'd', 'six'));
    await deferWrite(kysely(trx), rename(kysely(trx), 'a', 'not-its-name', 'x'), mustRename);
  }), Taken);
  assert.deepEqual(await names(db), ['a:two', 'b:four', 'c:five']);

  // ... and when a statement followed it, that statement fails with the check's error.
  await assert.rejects(store.transact(async (trx) => {
    await deferWrite(kysely(trx), rename(kysely(trx), 'a', 'not-its-name', 'x'), mustRename);
    await names(kysely(trx));
    assert.fail('the read after a failed check must not answer');
  }), Taken);

  // Exactly one: a write that changed several rows fails too.
  await assert.rejects(store.transact(async (trx) => {
    await deferWrite(kysely(trx), kysely(trx).updateTable('images').set({ status: 'queued' }).compile(), mustRename);
  }), Taken);
  assert.deepEqual((await db.selectFrom('images').select('status').distinct().execute()).map((r) => r.status), ['active']);

  // A database error in a deferred write keeps its code (a unique violation here) and rolls everything back.
  await assert.rejects(store.transact(async (trx) => {
    await deferWrite(kysely(trx), rename(kysely(trx), 'c', 'five', 'seven'));
    await deferWrite(kysely(trx), insertImage(kysely(trx), 'a', 'duplicate'));
    await names(kysely(trx));
  }), (e: { code?: string; message: string }) => {
    assert.equal(e.code, store.dialect === 'postgres' ? '23505' : 'SQLITE_CONSTRAINT_PRIMARYKEY', e.message);
    return true;
  });
  assert.deepEqual(await names(db), ['a:two', 'b:four', 'c:five']);

  // Outside a transaction a deferred write runs at once, check included.
  await deferWrite(db, rename(db, 'c', 'five', 'eight'), mustRename);
  assert.deepEqual(await names(db), ['a:two', 'b:four', 'c:eight']);
  await assert.rejects(deferWrite(db, rename(db, 'c', 'five', 'nine'), mustRename), Taken);

  // A read sent later goes out with the next round trip, in its place: before the write asked for after it.
  const nameOf = (trx: Kysely<Database>, id: string) => trx.selectFrom('images').select('name').where('id', '=', id).compile();
  const [before, afterwards] = await store.transact(async (trx) => {
    const early = readLater(kysely(trx), nameOf(kysely(trx), 'a'));
    await deferWrite(kysely(trx), rename(kysely(trx), 'a', 'two', 'ten'), mustRename);
    const now = await kysely(trx).executeQuery(nameOf(kysely(trx), 'a'));
    return [(await early).rows[0]?.name, now.rows[0]?.name];
  });
  assert.deepEqual([before, afterwards], ['two', 'ten']);
  // Left pending, it rides with the commit; outside a transaction it runs at once.
  const atCommit = await store.transact(async (trx) => ({ later: readLater(kysely(trx), nameOf(kysely(trx), 'a')) }));
  assert.equal((await atCommit.later).rows[0]?.name, 'ten');
  assert.equal((await readLater(db, nameOf(db, 'b'))).rows[0]?.name, 'four');
  // Waited for with nothing sent after it (only deferred writes: a claim without PCI devices), it goes out
  // on its own, with those writes before it, instead of leaving the transaction idle forever.
  const waited = await store.transact(async (trx) => {
    const later = readLater(kysely(trx), nameOf(kysely(trx), 'a'));
    await deferWrite(kysely(trx), rename(kysely(trx), 'c', 'eight', 'eleven'), mustRename);
    const name = (await later).rows[0]?.name;
    await deferWrite(kysely(trx), rename(kysely(trx), 'c', 'eleven', 'eight'), mustRename);
    return name;
  });
  assert.equal(waited, 'ten');
  assert.deepEqual(await names(db), ['a:ten', 'b:four', 'c:eight']);
  // Its transaction failing first rejects it with that cause, and nobody waiting for it is no crash.
  let orphan: Promise<unknown> | undefined;
  await assert.rejects(store.transact(async (trx) => {
    orphan = readLater(kysely(trx), nameOf(kysely(trx), 'a'));
    readLater(kysely(trx), nameOf(kysely(trx), 'b'));
    await deferWrite(kysely(trx), rename(kysely(trx), 'a', 'not-its-name', 'x'), mustRename);
    await names(kysely(trx));
  }), Taken);
  // On PostgreSQL the read was still waiting for the round trip the failure cancelled; SQLite ran it at once.
  const orphanOutcome = await orphan!.then(() => 'answered', (e) => (e instanceof Taken ? 'Taken' : String(e)));
  assert.equal(orphanOutcome, store.dialect === 'postgres' ? 'Taken' : 'answered');
  await store.transact(async (trx) => { await deferWrite(kysely(trx), rename(kysely(trx), 'a', 'ten', 'two'), mustRename); });

  // Many transactions in flight on the pool, each with deferred writes and reads: every one commits its own.
  await Promise.all(Array.from({ length: 40 }, (_, i) => store.transact(async (trx) => {
    await deferWrite(kysely(trx), insertImage(kysely(trx), `p${String(i).padStart(2, '0')}`, 'new'));
    await deferWrite(kysely(trx), rename(kysely(trx), `p${String(i).padStart(2, '0')}`, 'new', `n${i}`), mustRename);
    const [row] = await kysely(trx).selectFrom('images').select('name').where('id', '=', `p${String(i).padStart(2, '0')}`).execute();
    assert.equal(row?.name, `n${i}`);
  })));
  const pooled = (await names(db)).filter((n) => n.startsWith('p'));
  assert.equal(pooled.length, 40);
  assert.ok(pooled.every((n) => /^p(\d\d):n(\d+)$/.test(n) && Number(n.slice(1, 3)) === Number(n.split(':n')[1])), pooled.join(' '));
}

/** A store on its own database, closed afterwards (and the PostgreSQL database dropped). */
async function withStore(backend: 'sqlite' | 'postgres', fn: (store: Store) => Promise<void>): Promise<void> {
  const run = async (url: string) => {
    const store = await openStore(url);
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };
  if (backend === 'sqlite') await run(':memory:');
  else await withPostgresDatabase(run);
}

describe('deferred writes', () => {
  test('SQLite: run at once, same results and failures', { timeout: 300_000 }, () => withStore('sqlite', checks));

  test('PostgreSQL: pipelined with the next statement or the commit, same results and failures', { timeout: 300_000 }, () => withStore('postgres', checks));

  test('PostgreSQL: begin goes out with the first statement and the transaction is still one transaction', { timeout: 300_000 }, async () => {
    await withStore('postgres', async (store) => {
      const { first, second, sameTransaction } = await store.transact(async (trx) => {
        const a = await sql<{ xid: string }>`select txid_current()::text as xid`.execute(kysely(trx));
        await sql`select pg_sleep(0.02)`.execute(kysely(trx));
        const b = await sql<{ xid: string; same: boolean }>`select txid_current()::text as xid, now() < statement_timestamp() as same`.execute(kysely(trx));
        return { first: a.rows[0]!.xid, second: b.rows[0]!.xid, sameTransaction: b.rows[0]!.same };
      });
      assert.equal(first, second);
      assert.equal(sameTransaction, true, 'now() is the transaction start, earlier than the later statement');
      // A prepared (named) statement first parsed inside a pipeline is known to the connection afterwards.
      for (let i = 0; i < 30; i++) {
        await store.transact(async (trx) => {
          await deferWrite(kysely(trx), insertImage(kysely(trx), `x${i}`, 'n'));
        });
      }
      assert.equal((await store.db.selectFrom('images').select('id').where('id', 'like', 'x%').execute()).length, 30);

      // A value that cannot be sent fails the transaction before anything of the pipeline is written;
      // the connection goes back to the pool usable, and nothing of that transaction commits.
      const circular: Record<string, unknown> = {};
      circular['self'] = circular;
      await assert.rejects(store.transact(async (trx) => {
        await deferWrite(kysely(trx), insertImage(kysely(trx), 'y1', 'n'));
        await deferWrite(kysely(trx), { ...rename(kysely(trx), 'y1', 'n', 'm'), parameters: [circular, 'y1', 'n'] });
        await kysely(trx).selectFrom('images').select('id').execute();
      }), TypeError);
      for (let i = 0; i < 12; i++) {
        assert.deepEqual(await store.transact((trx) => kysely(trx).selectFrom('images').select('id').where('id', '=', 'y1').execute()), []);
      }
    });
  });
});
