import type { Kysely, Selectable } from 'kysely';
import type { ConsoleRequestTable, Database } from '../schema.js';
import type { Unit, Session } from '../unit.js';
import { dbOf } from '../internal/handles.js';
import { precompiled } from '../precompiled.js';

export type ConsoleRequestRow = Selectable<ConsoleRequestTable>;

export async function insertConsoleRequest(unit: Unit, row: ConsoleRequestRow): Promise<void> {
  const db = dbOf(unit);
  await db.insertInto('console_requests').values(row).execute();
}

// Asked on agents' work passes: built once.
const unansweredOfHost = precompiled<{ host: string }, ConsoleRequestRow>((db, p) =>
  db.selectFrom('console_requests').selectAll().where('host', '=', p.host).where('answered_at', 'is', null)
    .orderBy('created_at').limit(50));

export async function unansweredConsoleRequests(session: Session, host: string): Promise<ConsoleRequestRow[]> {
  return (await unansweredOfHost.run(dbOf(session), { host })).rows;
}

export async function getConsoleRequest(session: Session, id: string): Promise<ConsoleRequestRow | null> {
  const db = dbOf(session);
  return (await db.selectFrom('console_requests').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Records the agent's answer; a request already answered or gone (its asker gave up) is left as it is. */
export async function answerConsoleRequestRow(
  unit: Unit, host: string, id: string, answer: { output: string | null; error: string | null }, now: string,
): Promise<void> {
  const db = dbOf(unit);
  await db.updateTable('console_requests').set({ ...answer, answered_at: now })
    .where('id', '=', id).where('host', '=', host).where('answered_at', 'is', null).execute();
}

export async function deleteConsoleRequest(unit: Unit, id: string): Promise<void> {
  const db = dbOf(unit);
  await db.deleteFrom('console_requests').where('id', '=', id).execute();
}
