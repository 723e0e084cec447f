import { sql, type Kysely } from 'kysely';

/**
 * What the everyday server commands record (Nova's own columns and table):
 *  - instances.locked / locked_by / locked_reason: `openstack server lock`
 *    (locked_by `owner` or `admin`, which decides who may unlock; the reason
 *    from 2.73, Nova keeps it in system metadata);
 *  - instance_tags: server tags (2.26+), one row per (server, tag), so
 *    `GET /servers?tags=…` filters in SQL.
 */
export function serverLockAndTagsMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`alter table instances add column locked integer not null default 0`.execute(db);
      await sql`alter table instances add column locked_by text`.execute(db);
      await sql`alter table instances add column locked_reason text`.execute(db);
      await db.schema.createTable('instance_tags')
        .addColumn('instance_uuid', 'text', (c) => c.notNull())
        .addColumn('tag', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('instance_tags_pk', ['instance_uuid', 'tag'])
        .execute();
      await db.schema.createIndex('instance_tags_tag').on('instance_tags').column('tag').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('instance_tags').execute();
      for (const c of ['locked_reason', 'locked_by', 'locked']) {
        await sql`alter table instances drop column ${sql.raw(c)}`.execute(db);
      }
    },
  };
}
