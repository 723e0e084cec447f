/**
 * The lock guard (Nova's `check_instance_lock`): the one place that refuses a
 * member's request on a locked server with 409 "Instance <uuid> is locked".
 * Every server action goes through `guardServerAction` (servers.ts, before
 * the action's handler); the other routes that change a server (delete,
 * os-interface attach/detach, metadata writes) call `refuseIfLocked`.
 * Admins are never refused.
 */
import type { FastifyRequest } from 'fastify';
import { lockRefusal } from '../../../domain/lifecycle/lock.js';
import type { InstanceRecord } from '../../../storage/repositories/instances.js';

/**
 * Actions Nova runs without the lock check: lock/unlock themselves,
 * createImage and the console output. The admin-only actions are listed too:
 * their policy refuses a member first (403), and an admin passes the lock.
 */
const ACTIONS_WITHOUT_LOCK_CHECK = new Set([
  'lock', 'unlock', 'createImage', 'os-getConsoleOutput',
  'migrate', 'os-migrateLive', 'evacuate', 'shelveOffload', 'os-resetState', 'forceDelete',
]);

export function refuseIfLocked(req: FastifyRequest, instance: InstanceRecord): void {
  const refusal = lockRefusal(instance, req.auth.isAdmin);
  if (refusal) throw refusal;
}

export function guardServerAction(req: FastifyRequest, action: string, instance: InstanceRecord): void {
  if (!ACTIONS_WITHOUT_LOCK_CHECK.has(action)) refuseIfLocked(req, instance);
}
