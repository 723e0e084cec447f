import type { Selectable } from 'kysely';
import type { InstanceActionTable } from '../schema.js';
import { LIMIT_ONE } from '../limitOne.js';
import { deferWrite } from '../pipelining.js';
import { precompiled } from '../precompiled.js';
import { nowIso } from './json.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

export type InstanceActionRow = Selectable<InstanceActionTable>;

/** Starts an instance action record (os-instance-actions); finished by finishAction. */
export async function startAction(
  unit: Unit, a: { instanceUuid: string; action: string; requestId: string; projectId: string; userId: string },
): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, insertAction.compile(db, { ...a, now: nowIso() }));
}

const insertAction = precompiled<{ instanceUuid: string; action: string; requestId: string; projectId: string; userId: string; now: string }>((db, p) =>
  db.insertInto('instance_actions').values({
    instance_uuid: p.instanceUuid, request_id: p.requestId, action: p.action, project_id: p.projectId,
    user_id: p.userId, start_time: p.now, finish_time: null, message: null, result: null,
  }));

const finishNewestAction = precompiled<{ instanceUuid: string; action: string; result: string; message: string | null; now: string }>((db, p) =>
  db.updateTable('instance_actions').set({ finish_time: p.now, result: p.result, message: p.message })
    .where('id', '=', (eb) => eb.selectFrom('instance_actions as open').select('open.id')
      .where('open.instance_uuid', '=', p.instanceUuid).where('open.action', '=', p.action)
      .where('open.finish_time', 'is', null).orderBy('open.id', 'desc').limit(LIMIT_ONE)));

/** Finishes the newest unfinished action of that name on the instance (one statement: update by subquery). */
export async function finishAction(
  unit: Unit, instanceUuid: string, action: string, result: 'Success' | 'Error', message: string | null = null,
): Promise<void> {
  const db = dbOf(unit);
  await deferWrite(db, finishNewestAction.compile(db, { instanceUuid, action, result, message, now: nowIso() }));
}

export async function actionsOf(session: Session, instanceUuid: string): Promise<InstanceActionRow[]> {
  const db = dbOf(session);
  return db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', instanceUuid).orderBy('id', 'desc').execute();
}
