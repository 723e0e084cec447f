/**
 * `server lock` as Nova 26 has it (nova/compute/api.py `lock`, `unlock`,
 * `is_expected_locked_by`, `check_instance_lock`).
 *
 * - A locked server refuses every action that checks the lock with 409
 *   "Instance <uuid> is locked", unless the caller is an admin.
 * - The lock remembers who set it: `owner` (the caller's project owns the
 *   server) or `admin`. An owner locking an already locked server changes
 *   nothing; an admin's lock replaces it.
 * - Unlocking a lock of the other kind needs the unlock_override policy
 *   (admin only), so an owner cannot lift an admin's lock.
 */
import { Conflict } from '../errors.js';

export type LockedBy = 'owner' | 'admin';

export interface LockableServer {
  uuid: string;
  projectId: string;
  locked: boolean;
  lockedBy: LockedBy | null;
}

export function lockRefusal(server: Pick<LockableServer, 'uuid' | 'locked'>, callerIsAdmin: boolean): Conflict | null {
  return server.locked && !callerIsAdmin ? new Conflict(`Instance ${server.uuid} is locked`) : null;
}

/** Who a lock by this caller is recorded as. */
export function lockerKind(server: Pick<LockableServer, 'projectId'>, callerProjectId: string): LockedBy {
  return server.projectId === callerProjectId ? 'owner' : 'admin';
}

/** Whether a lock request changes anything (an owner re-locking is a no-op). */
export function lockChanges(server: LockableServer, callerProjectId: string): boolean {
  return !(server.locked && lockerKind(server, callerProjectId) === 'owner');
}

/** Whether the caller is the kind of locker that set the lock (else unlocking needs the override policy). */
export function isExpectedLocker(server: LockableServer, callerProjectId: string): boolean {
  return server.lockedBy === null || server.lockedBy === lockerKind(server, callerProjectId);
}
