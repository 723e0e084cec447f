import { sql, type Kysely } from 'kysely';

/**
 * The everyday commands' records (issue 14, items 2, 3 and 7):
 *  - key_pairs: Nova's per-user key pairs (name unique per user; the
 *    integer id is what `keypair show` displays);
 *  - security_groups, security_group_rules: networking's groups and rules,
 *    recorded and shown only (enforcement is the networking backend's);
 *    default_security_groups names each project's `default` group, its
 *    primary key making "create on first use" safe when two requests race;
 *  - port_security_groups: which groups a port carries;
 *    ports.port_security_enabled: a port without port security carries none;
 *  - instances.security_groups: the group names a create asked for (JSON
 *    list; null: the project's default), applied to the ports the compute API
 *    creates for `networks: [{uuid}]`; instances.created_port_ids: those
 *    ports, deleted with the server as Nova does;
 *  - console_requests: a console log asked of a host's agent and its answer
 *    (the controller cannot call an agent: it leaves the question here and
 *    wakes the agent, which answers through the agent API).
 */
export function everydayMigration(dialect: 'sqlite' | 'postgres') {
  const idType = dialect === 'postgres' ? 'serial' : 'integer';
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema.createTable('key_pairs')
        .addColumn('id', idType, (c) => c.primaryKey().$call((b) => (dialect === 'sqlite' ? b.autoIncrement() : b)))
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addUniqueConstraint('key_pairs_user_name', ['user_id', 'name'])
        .execute();
      await db.schema.createTable('security_groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('stateful', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('revision_number', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('security_groups_project').on('security_groups').columns(['project_id', 'name']).execute();
      await db.schema.createTable('default_security_groups')
        .addColumn('project_id', 'text', (c) => c.primaryKey())
        .addColumn('security_group_id', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createTable('security_group_rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('security_group_id', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('ethertype', 'text', (c) => c.notNull())
        .addColumn('protocol', 'text')
        .addColumn('port_range_min', 'integer')
        .addColumn('port_range_max', 'integer')
        .addColumn('remote_ip_prefix', 'text')
        .addColumn('remote_group_id', 'text')
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('revision_number', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('security_group_rules_group').on('security_group_rules').column('security_group_id').execute();
      await db.schema.createIndex('security_group_rules_remote').on('security_group_rules').column('remote_group_id').execute();
      await db.schema.createTable('port_security_groups')
        .addColumn('port_id', 'text', (c) => c.notNull())
        .addColumn('security_group_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('port_security_groups_pk', ['port_id', 'security_group_id'])
        .execute();
      await db.schema.createIndex('port_security_groups_group').on('port_security_groups').column('security_group_id').execute();
      await sql`alter table ports add column port_security_enabled integer not null default 1`.execute(db);
      await sql`alter table instances add column security_groups text`.execute(db);
      await sql`alter table instances add column created_port_ids text`.execute(db);
      await db.schema.createTable('console_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('instance_uuid', 'text', (c) => c.notNull())
        .addColumn('lines', 'integer')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('answered_at', 'text')
        .addColumn('output', 'text')
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('console_requests_host').on('console_requests').columns(['host', 'answered_at']).execute();
    },
    async down(db: Kysely<unknown>): Promise<void> {
      await db.schema.dropTable('console_requests').execute();
      await sql`alter table instances drop column created_port_ids`.execute(db);
      await sql`alter table instances drop column security_groups`.execute(db);
      await sql`alter table ports drop column port_security_enabled`.execute(db);
      for (const t of ['port_security_groups', 'security_group_rules', 'default_security_groups', 'security_groups', 'key_pairs']) {
        await db.schema.dropTable(t).execute();
      }
    },
  };
}
