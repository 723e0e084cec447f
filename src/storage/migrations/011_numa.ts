import { sql, type Kysely } from 'kysely';

/**
 * NFV guests (docs/nfv.md):
 *  - compute_nodes.numa_topology: the host's NUMA cells and CPU sets as it
 *    reports them (JSON; null: one cell of everything);
 *  - compute_nodes.numa_usage: per cell, the pinned CPUs, unpinned vCPUs,
 *    small-page memory and huge pages the claims hold (JSON). A claim reads
 *    and writes it after its conditional write of the same row, so claims on
 *    one host are ordered by that row (its lock on PostgreSQL, the one
 *    writer on SQLite) and never hand out one CPU or page twice;
 *  - allocations.numa: what one consumer's claim took of the cells and where
 *    its guest's vCPUs are pinned (JSON), given back by its release;
 *  - instances.image_properties: the image's hw_* properties at boot, which
 *    resize and every move read again with the flavor (Nova keeps them in
 *    the instance's system metadata);
 *  - ports.numa_affinity_policy: Neutron's port attribute (required,
 *    preferred, legacy, socket or null), which beats the flavor's policy;
 *  - server_groups / server_group_members: os-server-groups.
 */
export function numaMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`alter table compute_nodes add column numa_topology text`.execute(db);
      await sql`alter table compute_nodes add column numa_usage text`.execute(db);
      await sql`alter table allocations add column numa text`.execute(db);
      await sql`alter table instances add column image_properties text`.execute(db);
      await sql`alter table ports add column numa_affinity_policy text`.execute(db);
      await db.schema.createTable('server_groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('rules', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createTable('server_group_members')
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('instance_uuid', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('server_group_members_pk', ['group_id', 'instance_uuid'])
        .execute();
      await db.schema.createIndex('server_group_members_instance').on('server_group_members').column('instance_uuid').execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('server_group_members').execute();
      await db.schema.dropTable('server_groups').execute();
      await sql`alter table ports drop column numa_affinity_policy`.execute(db);
      await sql`alter table instances drop column image_properties`.execute(db);
      await sql`alter table allocations drop column numa`.execute(db);
      await sql`alter table compute_nodes drop column numa_usage`.execute(db);
      await sql`alter table compute_nodes drop column numa_topology`.execute(db);
    },
  };
}
