import { sql, type Kysely } from 'kysely';

/**
 * Server groups (docs/nfv.md; the tables came with 011):
 *  - instances.server_group: the group the server was booted into with the
 *    `group` scheduler hint (Nova keeps it in the request spec), so that its
 *    build and every move ask the scheduler for the group's policy without a
 *    look-up for servers that are in none;
 *  - server_groups(project_id): the project's groups, listed and counted
 *    against the server_groups quota.
 */
export function serverGroupsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`alter table instances add column server_group text`.execute(db);
      await db.schema.createIndex('server_groups_project').on('server_groups').column('project_id').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('server_groups_project').execute();
      await sql`alter table instances drop column server_group`.execute(db);
    },
  };
}
