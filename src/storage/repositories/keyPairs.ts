import type { Kysely, Selectable } from 'kysely';
import type { Database, KeyPairTable } from '../schema.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

export type KeyPairRow = Selectable<KeyPairTable>;

export async function keyPairsOf(session: Session, userId: string, opts: { limit?: number; afterName?: string } = {}): Promise<KeyPairRow[]> {
  const db = dbOf(session);
  let q = db.selectFrom('key_pairs').selectAll().where('user_id', '=', userId);
  if (opts.afterName !== undefined) q = q.where('name', '>', opts.afterName);
  q = q.orderBy('name');
  if (opts.limit !== undefined) q = q.limit(opts.limit);
  return q.execute();
}

export async function getKeyPair(session: Session, userId: string, name: string): Promise<KeyPairRow | null> {
  const db = dbOf(session);
  return (await db.selectFrom('key_pairs').selectAll().where('user_id', '=', userId).where('name', '=', name).executeTakeFirst()) ?? null;
}

/** Inserts the key pair; false when the user already has one of that name. */
export async function insertKeyPair(unit: Unit, row: Omit<KeyPairRow, 'id'>): Promise<KeyPairRow | null> {
  const db = dbOf(unit);
  return (await db.insertInto('key_pairs').values(row)
    .onConflict((oc) => oc.columns(['user_id', 'name']).doNothing())
    .returningAll().executeTakeFirst()) ?? null;
}

export async function deleteKeyPairRow(unit: Unit, userId: string, name: string): Promise<boolean> {
  const db = dbOf(unit);
  const r = await db.deleteFrom('key_pairs').where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** How many key pairs a user holds (Nova counts the key_pairs quota per user). */
export async function countKeyPairs(session: Session, userId: string): Promise<number> {
  const row = await dbOf(session).selectFrom('key_pairs').select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId).executeTakeFirst();
  return Number(row?.n ?? 0);
}
