import { sql, type Kysely } from 'kysely';

/**
 * What the operation engine needs to finish every operation from the
 * database alone (src/controller/operations/):
 *  - instances.task_changed_at: when the server's task state (or the step
 *    within it) last moved, so a step waiting on a host has a deadline that
 *    any controller can see;
 *  - instances.lease_owner / lease_expires_at: which controller process is
 *    advancing the server right now, with an expiry so a dead process's
 *    work is taken over;
 *  - instances.failed_hosts: hosts a build already failed on (JSON list), so
 *    a reschedule goes elsewhere;
 *  - instances_task: the partial index the resync and the deadline sweep read
 *    (servers with work in progress are few);
 *  - cluster_leases: singleton periodic jobs run once per cluster;
 *  - instance_action_events: the steps of an instance action (each build
 *    attempt, with its host and result), as Nova's os-instance-actions show.
 */
export function operationsMigration(dialect: 'sqlite' | 'postgres') {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`alter table instances add column task_changed_at text`.execute(db);
      await sql`alter table instances add column lease_owner text`.execute(db);
      await sql`alter table instances add column lease_expires_at text`.execute(db);
      await sql`alter table instances add column failed_hosts text`.execute(db);
      await sql`update instances set task_changed_at = updated_at where task_state is not null`.execute(db);
      // 001 made instances_task over every row; it becomes partial under the same name.
      await sql`drop index instances_task`.execute(db);
      await sql`create index instances_task on instances (task_state) where task_state is not null`.execute(db);
      await db.schema.createTable('cluster_leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('owner', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createTable('instance_action_events')
        .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) => c.primaryKey().$call((b) => (dialect === 'sqlite' ? b.autoIncrement() : b)))
        .addColumn('instance_uuid', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('host', 'text')
        .addColumn('start_time', 'text', (c) => c.notNull())
        .addColumn('finish_time', 'text')
        .addColumn('result', 'text')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('instance_action_events_instance').on('instance_action_events').column('instance_uuid').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('instance_action_events').execute();
      await db.schema.dropTable('cluster_leases').execute();
      await sql`drop index instances_task`.execute(db);
      await db.schema.createIndex('instances_task').on('instances').column('task_state').execute();
      for (const c of ['failed_hosts', 'lease_expires_at', 'lease_owner', 'task_changed_at']) {
        await sql`alter table instances drop column ${sql.raw(c)}`.execute(db);
      }
    },
  };
}
