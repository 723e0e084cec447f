import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';

/**
 * Shelved servers (vm_state shelved, idle) whose newest shelve finished
 * before `cutoffIso`: what Nova's periodic _poll_shelved_instances offloads
 * once shelved_offload_time has passed.
 */
export async function shelvedSince(session: Session, cutoffIso: string): Promise<string[]> {
  const db = dbOf(session);
  const rows = await db.selectFrom('instances').select('instances.uuid')
    .where('instances.vm_state', '=', 'shelved').where('instances.task_state', 'is', null)
    .where((eb) => eb('instances.uuid', 'not in', eb.selectFrom('instance_actions').select('instance_actions.instance_uuid')
      .where('instance_actions.action', '=', 'shelve')
      .where((inner) => inner.or([inner('instance_actions.finish_time', 'is', null), inner('instance_actions.finish_time', '>=', cutoffIso)]))))
    .execute();
  return rows.map((r) => r.uuid);
}
