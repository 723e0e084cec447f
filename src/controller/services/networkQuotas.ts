import { Conflict } from '../../domain/errors.js';
import { NETWORK_DEFAULTS } from '../../domain/quotas/resources.js';
import { networkQuotaState } from '../../storage/repositories/quotas.js';
import type { Session } from '../../storage/unit.js';

const TABLES = { port: 'ports', network: 'networks', subnet: 'subnets' } as const;

/**
 * Neutron's quota check of a create, in its transaction: 409 OverQuota when
 * the project already has its limit. As in Neutron without reservations, two
 * creates racing on PostgreSQL may both pass the last unit (the strict
 * guarantee is the compute quota's, quotas.ts).
 */
export async function checkNetworkQuota(db: Session, resource: keyof typeof TABLES, projectId: string): Promise<void> {
  const { limit, used } = await networkQuotaState(db, TABLES[resource], resource, projectId, NETWORK_DEFAULTS[resource]!);
  if (limit >= 0 && used + 1 > limit) throw new Conflict(`Quota exceeded for resources: ['${resource}'].`, 'OverQuota');
}
