import type { Kysely } from 'kysely';
import { ClaimConflict } from '../../domain/errors.js';
import { explainNoValidHost, selectHosts } from '../../domain/scheduling/pipeline.js';
import type { ResourceRequest } from '../../domain/scheduling/types.js';
import { candidateHosts } from '../../storage/repositories/candidates.js';
import { claimOnHost, type ClaimedDevice } from '../../storage/repositories/claims.js';
import type { Database } from '../../storage/schema.js';
import type { ControllerContext } from '../context.js';

export const NO_VALID_HOST = 'No valid host was found.';

export type ScheduleOutcome =
  | { placed: true; host: string; claimed: ClaimedDevice[] }
  | { placed: false; reason: string };

/** Stops a decision without retrying elsewhere (e.g. the server was deleted meanwhile). */
export class ScheduleAborted extends Error {}

function isRetryableDbError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === '40001' || code === '40P01' || code === 'SQLITE_BUSY';
}

/**
 * The scheduling decision: candidates from the pool index, the filter and
 * weigher pipeline, then the claim of resources and devices and the caller's
 * own writes (binding, guest, server state) in ONE transaction. A claim that
 * lost a race moves on to the next host; nothing is left half-claimed.
 */
export async function scheduleAndClaim(
  ctx: ControllerContext,
  request: ResourceRequest,
  claim: { consumer: string; instanceUuid: string },
  commit: (trx: Kysely<Database>, host: string, claimed: ClaimedDevice[]) => Promise<void>,
): Promise<ScheduleOutcome> {
  const { db, dialect } = ctx.store;
  const limit = ctx.config.scheduler_candidate_limit;
  let lastReason = 'no compute host is registered';
  for (let offset = 0; ; offset += limit) {
    const candidates = await candidateHosts(db, request, { limit, offset }, ctx.config.service_down_time);
    if (candidates.length === 0 && offset === 0) {
      lastReason = explainNoValidHost({ ranked: [], rejections: {} }, 0);
    }
    const selection = selectHosts(candidates, request);
    if (selection.ranked.length === 0 && candidates.length > 0) lastReason = explainNoValidHost(selection, candidates.length);
    for (const host of selection.ranked) {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          const claimed = await db.transaction().execute(async (trx) => {
            const devices = await claimOnHost(trx, dialect, {
              host: host.host, consumer: claim.consumer, instanceUuid: claim.instanceUuid,
              vcpus: request.vcpus, memoryMb: request.memoryMb, diskGb: request.diskGb, pciRequests: request.pciRequests,
            });
            await commit(trx, host.host, devices);
            return devices;
          });
          return { placed: true, host: host.host, claimed };
        } catch (e) {
          if (e instanceof ClaimConflict) {
            lastReason = e.message;
            break;
          }
          if (isRetryableDbError(e)) continue;
          throw e;
        }
      }
    }
    if (candidates.length < limit) break;
  }
  return { placed: false, reason: lastReason };
}
