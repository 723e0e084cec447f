import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import { nowIso } from './json.js';

/**
 * Marks a free port as belonging to a server. Conditional on the port being
 * free, so two servers created at once can never both take it.
 */
export async function reservePort(db: Kysely<Database>, portId: string, serverId: string, deviceOwner: string): Promise<boolean> {
  const r = await db.updateTable('ports')
    .set((eb) => ({ device_id: serverId, device_owner: deviceOwner, updated_at: nowIso(), revision_number: eb('revision_number', '+', 1) }))
    .where('id', '=', portId).where('device_id', '=', '').executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}
