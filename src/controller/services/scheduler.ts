import type { Kysely } from 'kysely';
import { ClaimConflict } from '../../domain/errors.js';
import { explainNoValidHost, selectHosts } from '../../domain/scheduling/pipeline.js';
import type { HostState, ResourceRequest } from '../../domain/scheduling/types.js';
import { candidateHosts, indexedHostRows } from '../../storage/repositories/candidates.js';
import { claimOnHost, type ClaimedDevice } from '../../storage/repositories/claims.js';
import type { Store } from '../../storage/db.js';
import type { Database } from '../../storage/schema.js';
import { onServiceChange } from '../api/compute/services.js';
import type { ControllerContext } from '../context.js';
import { CandidateIndex } from './candidateIndex.js';

export const NO_VALID_HOST = 'No valid host was found.';

export type ScheduleOutcome =
  | { placed: true; host: string; claimed: ClaimedDevice[] }
  | { placed: false; reason: string };

/** Stops a decision without retrying elsewhere (e.g. the server was deleted meanwhile). */
export class ScheduleAborted extends Error {}

/**
 * How old the candidate index may get before it is read again in full: what
 * other controller processes and releases (which this module does not see)
 * can leave stale, for at most this long, as a hint only.
 */
export const CANDIDATE_INDEX_RELOAD_MS = 2000;

const indexes = new WeakMap<Store, CandidateIndex>();
const liveIndexes = new Set<WeakRef<CandidateIndex>>();
let listening = false;

/** The candidate index of this controller process for a store (created cold: the first decision starts its load). */
export function candidateIndexOf(ctx: ControllerContext): CandidateIndex {
  let index = indexes.get(ctx.store);
  if (!index) {
    const db = ctx.store.db;
    index = new CandidateIndex((hosts) => indexedHostRows(db, hosts), { reloadMs: CANDIDATE_INDEX_RELOAD_MS });
    indexes.set(ctx.store, index);
    liveIndexes.add(new WeakRef(index));
    if (!listening) {
      listening = true;
      // A disabled or forced-down service must stop getting servers at once, not after the next reload.
      onServiceChange(async (host) => {
        for (const ref of liveIndexes) {
          const live = ref.deref();
          if (!live) liveIndexes.delete(ref);
          else await live.refresh([host]).catch(() => live.markChanged(host));
        }
      });
    }
  }
  return index;
}

/** Claims on a host changed outside scheduleAndClaim (a release, a transfer): its index entry is read again. */
export function noteClaimsChanged(ctx: ControllerContext, host: string): void {
  indexes.get(ctx.store)?.markChanged(host);
}

function isRetryableDbError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === '40001' || code === '40P01' || code === 'SQLITE_BUSY';
}

/**
 * The scheduling decision: candidates from the controller's candidate index
 * (the database's pool index when the index is cold or cannot answer), the
 * filter and weigher pipeline, then the claim of resources and devices and
 * the caller's own writes (binding, guest, server state) in ONE transaction.
 * A claim that lost a race moves on to the next host; nothing is left
 * half-claimed.
 */
export async function scheduleAndClaim(
  ctx: ControllerContext,
  request: ResourceRequest,
  claim: { consumer: string; instanceUuid: string },
  commit: (trx: Kysely<Database>, host: string, claimed: ClaimedDevice[]) => Promise<void>,
): Promise<ScheduleOutcome> {
  const { db } = ctx.store;
  const limit = ctx.config.scheduler_candidate_limit;
  const index = candidateIndexOf(ctx);
  index.reloadIfOld().catch(() => { /* the database path answers meanwhile */ });

  // A fleet that fits in one page of the database query gains nothing from the
  // index and is where one stale entry (a release this process did not see)
  // would change the choice most: the database answers exactly there.
  const fromIndex = index.size > limit ? index.candidates(request, limit, ctx.config.service_down_time) : null;
  if (fromIndex && fromIndex.length > 0) {
    for (const host of selectHosts(fromIndex, request).ranked) {
      const claimed = await claimOn(ctx, host, request, claim, commit);
      if (claimed) {
        index.markClaimed(host.host, request, claimed.map((c) => c.device));
        return { placed: true, host: host.host, claimed };
      }
      // The entry was stale (another process, a release): read it again before the next decision.
      await index.refresh([host.host]).catch(() => index.markChanged(host.host));
    }
  }

  let lastReason = 'no compute host is registered';
  for (let offset = 0; ; offset += limit) {
    const candidates = await candidateHosts(db, request, { limit, offset }, ctx.config.service_down_time);
    if (candidates.length === 0 && offset === 0) {
      lastReason = explainNoValidHost({ ranked: [], rejections: {} }, 0);
    }
    const selection = selectHosts(candidates, request);
    if (selection.ranked.length === 0 && candidates.length > 0) lastReason = explainNoValidHost(selection, candidates.length);
    for (const host of selection.ranked) {
      const claimed = await claimOn(ctx, host, request, claim, commit, (reason) => { lastReason = reason; });
      if (claimed) {
        index.markClaimed(host.host, request, claimed.map((c) => c.device));
        return { placed: true, host: host.host, claimed };
      }
    }
    if (candidates.length < limit) break;
  }
  return { placed: false, reason: lastReason };
}

/** The claim and the caller's writes in one transaction; null when the host lost the race (ClaimConflict). */
async function claimOn(
  ctx: ControllerContext,
  host: HostState,
  request: ResourceRequest,
  claim: { consumer: string; instanceUuid: string },
  commit: (trx: Kysely<Database>, host: string, claimed: ClaimedDevice[]) => Promise<void>,
  onConflict?: (reason: string) => void,
): Promise<ClaimedDevice[] | null> {
  const { db, dialect } = ctx.store;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await db.transaction().execute(async (trx) => {
        const devices = await claimOnHost(trx, dialect, {
          host: host.host, consumer: claim.consumer, instanceUuid: claim.instanceUuid,
          vcpus: request.vcpus, memoryMb: request.memoryMb, diskGb: request.diskGb, pciRequests: request.pciRequests,
        });
        await commit(trx, host.host, devices);
        return devices;
      });
    } catch (e) {
      if (e instanceof ClaimConflict) {
        onConflict?.(e.message);
        return null;
      }
      if (isRetryableDbError(e)) continue;
      throw e;
    }
  }
  return null;
}

/**
 * Runs a placement that its operation may call off meanwhile (the commit
 * throws ScheduleAborted): null when called off; otherwise the outcome, with
 * the chosen host's agent already woken.
 */
export async function placeUnlessAborted(ctx: ControllerContext, place: () => Promise<ScheduleOutcome>): Promise<ScheduleOutcome | null> {
  let outcome: ScheduleOutcome;
  try {
    outcome = await place();
  } catch (e) {
    if (e instanceof ScheduleAborted) return null;
    throw e;
  }
  if (outcome.placed) ctx.signals.notify(outcome.host);
  return outcome;
}
