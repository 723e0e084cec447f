import type { Kysely, Selectable } from 'kysely';
import type { Database, KeyPairTable } from '../schema.js';

export type KeyPairRow = Selectable<KeyPairTable>;

export async function keyPairsOf(db: Kysely<Database>, userId: string, opts: { limit?: number; afterName?: string } = {}): Promise<KeyPairRow[]> {
  let q = db.selectFrom('key_pairs').selectAll().where('user_id', '=', userId);
  if (opts.afterName !== undefined) q = q.where('name', '>', opts.afterName);
  q = q.orderBy('name');
  if (opts.limit !== undefined) q = q.limit(opts.limit);
  return q.execute();
}

export async function getKeyPair(db: Kysely<Database>, userId: string, name: string): Promise<KeyPairRow | null> {
  return (await db.selectFrom('key_pairs').selectAll().where('user_id', '=', userId).where('name', '=', name).executeTakeFirst()) ?? null;
}

/** Inserts the key pair; false when the user already has one of that name. */
export async function insertKeyPair(db: Kysely<Database>, row: Omit<KeyPairRow, 'id'>): Promise<KeyPairRow | null> {
  return (await db.insertInto('key_pairs').values(row)
    .onConflict((oc) => oc.columns(['user_id', 'name']).doNothing())
    .returningAll().executeTakeFirst()) ?? null;
}

export async function deleteKeyPairRow(db: Kysely<Database>, userId: string, name: string): Promise<boolean> {
  const r = await db.deleteFrom('key_pairs').where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
