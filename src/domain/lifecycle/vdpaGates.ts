/**
 * Rolling-upgrade gates for servers with vDPA ports (Nova's
 * `reject_vdpa_instances`): an operation whose compute-side support arrived in
 * a given service version is refused while any compute service is older, since
 * the scheduler could pick (or the server may sit on) a host that cannot do it.
 * Servers without vDPA ports are never gated.
 */
export type VdpaGatedOperation = 'suspend' | 'resume' | 'live-migration' | 'attach_interface' | 'detach_interface';

/** Nova's numbers: 62 = vDPA interface attach/detach, 63 = hot-plug live migration and suspend/resume. */
export const VDPA_MIN_SERVICE_VERSION: Record<VdpaGatedOperation, number> = {
  attach_interface: 62,
  detach_interface: 62,
  suspend: 63,
  resume: 63,
  'live-migration': 63,
};

/** Nova's OperationNotSupportedForVDPAInterface text, with the server id filled in. */
export function vdpaRefusalMessage(op: VdpaGatedOperation, serverId: string): string {
  return `Operation '${op}' not supported for instance with vDPA ports (${serverId}).`;
}

/**
 * The refusal message when `op` must be refused, else null. `minComputeVersion`
 * is the lowest version among compute services; null (no service known) counts
 * as too old, as Nova's minimum of no services is 0.
 */
export function vdpaOperationGate(
  op: VdpaGatedOperation,
  hasVdpaPorts: boolean,
  minComputeVersion: number | null,
  serverId = '',
): string | null {
  if (!hasVdpaPorts) return null;
  if ((minComputeVersion ?? 0) >= VDPA_MIN_SERVICE_VERSION[op]) return null;
  return vdpaRefusalMessage(op, serverId);
}
