import { sql, type Kysely } from 'kysely';

/**
 * Identity hardening (issue 16):
 *  - users.failed_auth_count / failed_auth_at: failed password attempts since
 *    the last success and when the last one was, for Keystone's lockout
 *    (lockout_failure_attempts, lockout_duration); Keystone's column names;
 *  - users.agent_host: set for a per-host agent credential
 *    (`vdpa-compute agent-credential create HOST`), which may act on the agent
 *    API for that host only; null for every other user.
 */
export function identityHardeningMigration() {
  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`alter table users add column failed_auth_count integer not null default 0`.execute(db);
      await sql`alter table users add column failed_auth_at text`.execute(db);
      await sql`alter table users add column agent_host text`.execute(db);
    },
  };
}
