/**
 * Keystone's account lockout: after `lockout_failure_attempts` failed
 * passwords in a row a user cannot authenticate, even with the right one,
 * for `lockout_duration` seconds after the last failure. Off (0) by default,
 * as in Keystone. A success, or an admin setting a new password, starts the
 * count again.
 */
import { Unauthorized } from '../../domain/errors.js';
import type { Config } from '../../config.js';
import { recordFailedAuth, updateUserColumns } from '../../storage/repositories/identity.js';
import type { Storage } from '../../storage/db.js';
import type { UserTable } from '../../storage/schema.js';

type LockoutSettings = Pick<Config, 'lockout_failure_attempts' | 'lockout_duration'>;

function locked(user: UserTable, cfg: LockoutSettings, now: number): boolean {
  if (cfg.lockout_failure_attempts <= 0 || user.failed_auth_count < cfg.lockout_failure_attempts) return false;
  return user.failed_auth_at !== null && now < Date.parse(user.failed_auth_at) + cfg.lockout_duration * 1000;
}

/** Refuses a locked-out user before its password is looked at (Keystone's AccountLocked, 401). */
export function refuseIfLocked(user: UserTable, cfg: LockoutSettings, now = Date.now()): void {
  if (locked(user, cfg, now)) throw new Unauthorized(`The account is locked for user: ${user.id}.`);
}

export async function passwordFailed(store: Storage, user: UserTable, cfg: LockoutSettings, now = Date.now()): Promise<void> {
  if (cfg.lockout_failure_attempts <= 0) return;
  // A lockout that has run out starts a fresh count.
  const expired = user.failed_auth_count >= cfg.lockout_failure_attempts && !locked(user, cfg, now);
  await store.transact(async (u) => {
    if (expired) await updateUserColumns(u, user.id, { failed_auth_count: 0 });
    await recordFailedAuth(u, user.id, new Date(now).toISOString());
  });
}

export async function passwordSucceeded(store: Storage, user: UserTable): Promise<void> {
  if (user.failed_auth_count !== 0) await store.transact((u) => updateUserColumns(u, user.id, { failed_auth_count: 0, failed_auth_at: null }));
}
