import { sql, type Kysely } from 'kysely';

/**
 * Host aggregates and availability zones, quotas, and the usage record of
 * deleted servers (issue 14, items 4 to 6):
 *  - aggregates, aggregate_hosts, aggregate_metadata: Nova's host aggregates;
 *    an aggregate's availability zone is its `availability_zone` metadata key;
 *  - instances.requested_availability_zone: the zone a server was created in
 *    (null when none was asked for: it may go anywhere and moves anywhere);
 *    `availability_zone` becomes the zone of the host it runs on, as Nova shows;
 *  - quota_limits: per project limits that differ from the defaults (Nova's
 *    and Neutron's resources, one row each);
 *  - quota_usages: per project counters of instances, cores and ram, changed
 *    by the same conditional write that checks them (the create's, the
 *    resize's transaction), so concurrent creates can never pass a limit;
 *  - terminated_instances: what os-simple-tenant-usage needs of a deleted
 *    server (its flavor, launched_at, terminated_at), written by the delete
 *    that removes its row.
 */
export function zonesQuotasMigration(dialect: 'sqlite' | 'postgres') {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('aggregates')
        .addColumn('id', dialect === 'postgres' ? 'serial' : 'integer', (c) => c.primaryKey().$call((b) => (dialect === 'sqlite' ? b.autoIncrement() : b)))
        .addColumn('uuid', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text')
        .execute();
      await db.schema.createTable('aggregate_hosts')
        .addColumn('aggregate_id', 'integer', (c) => c.notNull())
        .addColumn('host', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('aggregate_hosts_pk', ['aggregate_id', 'host'])
        .execute();
      await db.schema.createTable('aggregate_metadata')
        .addColumn('aggregate_id', 'integer', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('aggregate_metadata_pk', ['aggregate_id', 'key'])
        .execute();
      await sql`alter table instances add column requested_availability_zone text`.execute(db);
      await db.schema.createTable('quota_limits')
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('hard_limit', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('quota_limits_pk', ['project_id', 'resource'])
        .execute();
      await db.schema.createTable('quota_usages')
        .addColumn('project_id', 'text', (c) => c.primaryKey())
        .addColumn('instances', 'integer', (c) => c.notNull())
        .addColumn('cores', 'integer', (c) => c.notNull())
        .addColumn('ram', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createTable('terminated_instances')
        .addColumn('uuid', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('flavor', 'text', (c) => c.notNull())
        .addColumn('launched_at', 'text')
        .addColumn('terminated_at', 'text', (c) => c.notNull())
        .execute();
      // Neutron's port quota counts a project's ports.
      await db.schema.createIndex('ports_project').on('ports').column('project_id').execute();
      await db.schema.createIndex('terminated_instances_project').on('terminated_instances').columns(['project_id', 'terminated_at']).execute();
      // The counters start from the servers there are.
      const rows = await sql<{ project_id: string; flavor: string; old_flavor: string | null; new_flavor: string | null }>`
        select project_id, flavor, old_flavor, new_flavor from instances`.execute(db);
      const usage = new Map<string, { instances: number; cores: number; ram: number }>();
      for (const r of rows.rows) {
        const flavors = [r.flavor, r.old_flavor, r.new_flavor].filter((f): f is string => !!f).map((f) => JSON.parse(f) as { vcpus: number; ram: number });
        const u = usage.get(r.project_id) ?? { instances: 0, cores: 0, ram: 0 };
        u.instances += 1;
        u.cores += Math.max(...flavors.map((f) => f.vcpus));
        u.ram += Math.max(...flavors.map((f) => f.ram));
        usage.set(r.project_id, u);
      }
      for (const [project, u] of usage) {
        await sql`insert into quota_usages (project_id, instances, cores, ram) values (${project}, ${u.instances}, ${u.cores}, ${u.ram})`.execute(db);
      }
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropIndex('ports_project').execute();
      for (const t of ['terminated_instances', 'quota_usages', 'quota_limits', 'aggregate_metadata', 'aggregate_hosts', 'aggregates']) {
        await db.schema.dropTable(t).execute();
      }
      await sql`alter table instances drop column requested_availability_zone`.execute(db);
    },
  };
}
