import type { Kysely, Selectable } from 'kysely';
import type { Database, InstanceActionTable } from '../schema.js';
import { nowIso } from './json.js';

export type InstanceActionRow = Selectable<InstanceActionTable>;

/** Starts an instance action record (os-instance-actions); finished by finishAction. */
export async function startAction(
  db: Kysely<Database>, a: { instanceUuid: string; action: string; requestId: string; projectId: string; userId: string },
): Promise<void> {
  await db.insertInto('instance_actions').values({
    instance_uuid: a.instanceUuid, request_id: a.requestId, action: a.action, project_id: a.projectId,
    user_id: a.userId, start_time: nowIso(), finish_time: null, message: null, result: null,
  }).execute();
}

/** Finishes the newest unfinished action of that name on the instance (one statement: update by subquery). */
export async function finishAction(
  db: Kysely<Database>, instanceUuid: string, action: string, result: 'Success' | 'Error', message: string | null = null,
): Promise<void> {
  await db.updateTable('instance_actions').set({ finish_time: nowIso(), result, message })
    .where('id', '=', (eb) => eb.selectFrom('instance_actions as open').select('open.id')
      .where('open.instance_uuid', '=', instanceUuid).where('open.action', '=', action)
      .where('open.finish_time', 'is', null).orderBy('open.id', 'desc').limit(1))
    .execute();
}

export async function actionsOf(db: Kysely<Database>, instanceUuid: string): Promise<InstanceActionRow[]> {
  return db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', instanceUuid).orderBy('id', 'desc').execute();
}
