import type { Kysely, Selectable } from 'kysely';
import type { ConsoleRequestTable, Database } from '../schema.js';

export type ConsoleRequestRow = Selectable<ConsoleRequestTable>;

export async function insertConsoleRequest(db: Kysely<Database>, row: ConsoleRequestRow): Promise<void> {
  await db.insertInto('console_requests').values(row).execute();
}

export async function unansweredConsoleRequests(db: Kysely<Database>, host: string): Promise<ConsoleRequestRow[]> {
  return db.selectFrom('console_requests').selectAll().where('host', '=', host).where('answered_at', 'is', null)
    .orderBy('created_at').limit(50).execute();
}

export async function getConsoleRequest(db: Kysely<Database>, id: string): Promise<ConsoleRequestRow | null> {
  return (await db.selectFrom('console_requests').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Records the agent's answer; a request already answered or gone (its asker gave up) is left as it is. */
export async function answerConsoleRequestRow(
  db: Kysely<Database>, host: string, id: string, answer: { output: string | null; error: string | null }, now: string,
): Promise<void> {
  await db.updateTable('console_requests').set({ ...answer, answered_at: now })
    .where('id', '=', id).where('host', '=', host).where('answered_at', 'is', null).execute();
}

export async function deleteConsoleRequest(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('console_requests').where('id', '=', id).execute();
}
