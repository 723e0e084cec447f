import { Forbidden } from '../../domain/errors.js';
import {
  COMPUTE_DEFAULTS, quotaExceededMessage, upsizeDelta, usageOfServer, type InstanceUsage,
} from '../../domain/quotas/resources.js';
import type { FlavorSnapshot, InstanceRecord } from '../../storage/repositories/instances.js';
import { projectLimits, projectUsage, returnInstanceQuota, takeInstanceQuota } from '../../storage/repositories/quotas.js';
import type { Session, Unit } from '../../storage/unit.js';

/** The conditional quota write found a limit in the way; quotaExceeded() turns it into Nova's 403. */
export class OverQuota extends Error {
  constructor(readonly projectId: string, readonly requested: InstanceUsage) {
    super('over quota');
  }
}

const COUNTED_DEFAULTS: InstanceUsage = {
  instances: COMPUTE_DEFAULTS.instances!, cores: COMPUTE_DEFAULTS.cores!, ram: COMPUTE_DEFAULTS.ram!,
};

/** In the create's transaction: the new server's instances, cores and ram, or OverQuota. */
export async function takeServerQuota(trx: Unit, projectId: string, flavor: FlavorSnapshot): Promise<void> {
  const requested = usageOfServer([flavor]);
  await takeInstanceQuota(trx, projectId, requested, COUNTED_DEFAULTS, () => new OverQuota(projectId, requested));
}

/** In the resize's transaction: what the new flavor adds (nothing for a migration or a downsize), or OverQuota. */
export async function takeResizeQuota(trx: Unit, instance: InstanceRecord, target: FlavorSnapshot): Promise<void> {
  const delta = upsizeDelta(instance.flavor, target);
  if (delta.cores === 0 && delta.ram === 0) return;
  await takeInstanceQuota(trx, instance.projectId, delta, COUNTED_DEFAULTS, () => new OverQuota(instance.projectId, delta));
}

/**
 * A resize ended, keeping one flavor: while it ran the server held the larger
 * of both (usageOfServer); what the kept flavor does not need goes back. Call
 * in the transaction whose conditional write ended the resize, after it held.
 */
export async function settleResizeQuota(trx: Unit, instance: InstanceRecord, kept: 'old' | 'new'): Promise<void> {
  const { oldFlavor, newFlavor } = instance;
  if (!oldFlavor || !newFlavor) return;
  const held = usageOfServer([oldFlavor, newFlavor]);
  const keeps = usageOfServer([kept === 'old' ? oldFlavor : newFlavor]);
  await returnInstanceQuota(trx, instance.projectId, { instances: 0, cores: held.cores - keeps.cores, ram: held.ram - keeps.ram });
}

/** What a server holds of its project's quota (given back when it is deleted). */
export function heldByServer(instance: InstanceRecord): InstanceUsage {
  return usageOfServer([instance.flavor, instance.oldFlavor, instance.newFlavor]);
}

/** The project's compute limits for the three counted resources. */
export async function countedLimits(db: Session, projectId: string): Promise<Record<'instances' | 'cores' | 'ram', number>> {
  const own = await projectLimits(db, projectId);
  return {
    instances: own.instances ?? COUNTED_DEFAULTS.instances,
    cores: own.cores ?? COUNTED_DEFAULTS.cores,
    ram: own.ram ?? COUNTED_DEFAULTS.ram,
  };
}

/** Nova's 403 for an OverQuota, with the usage and limits as they are now. */
export async function quotaExceeded(db: Session, e: OverQuota): Promise<Forbidden> {
  const [used, limits] = await Promise.all([projectUsage(db, e.projectId), countedLimits(db, e.projectId)]);
  const message = quotaExceededMessage(e.requested, used, limits)
    // Freed meanwhile: still refused (the write did not go through), named by what it asked for.
    ?? quotaExceededMessage(e.requested, used, { instances: 0, cores: 0, ram: 0 })!;
  return new Forbidden(message);
}
