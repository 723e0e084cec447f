import { ClaimConflict } from '../../domain/errors.js';
import type { PoolDelta } from '../../domain/pci/pools.js';
import { explainNoValidHost, selectHosts } from '../../domain/scheduling/pipeline.js';
import type { ResourceRequest } from '../../domain/scheduling/types.js';
import { candidateHosts, indexedHostRows } from '../../storage/repositories/candidates.js';
import { claimOnHost, type ClaimedDevice, type NumaSettlement } from '../../storage/repositories/claims.js';
import type { Storage } from '../../storage/db.js';
import { onServiceChange } from './serviceChanges.js';
import type { ControllerContext } from '../context.js';
import { CandidateIndex } from './candidateIndex.js';
import { aggregateDirectoryOf, type AggregateDirectory, type HostScope } from './aggregateDirectory.js';
import type { HostState } from '../../domain/scheduling/types.js';
import type { Unit } from '../../storage/unit.js';
import { metricsOf, type SchedulerOutcome } from './metrics/registry.js';
import { checkGroupPolicy, groupAttempts, withServerGroup } from './serverGroupPlacement.js';

export const NO_VALID_HOST = 'No valid host was found.';

export type ScheduleOutcome =
  | { placed: true; host: string; claimed: ClaimedDevice[] }
  | { placed: false; reason: string };

/** Stops a decision without retrying elsewhere (e.g. the server was deleted meanwhile). */
export class ScheduleAborted extends Error {}

/**
 * How old the candidate index may get before it is read again in full: what
 * other controller processes' writes (which this process's device feed does
 * not carry) can leave stale, for at most this long, as a hint only.
 */
export const CANDIDATE_INDEX_RELOAD_MS = 2000;

const indexes = new WeakMap<Storage, CandidateIndex>();
const liveIndexes = new Set<WeakRef<CandidateIndex>>();
let listening = false;

/**
 * The candidate index of this controller process for a store (created cold:
 * the first decision starts its load). It follows the store's device feed:
 * every committed write of this process that changed a host's devices, pools
 * or claimed resources (a release, a claim outside scheduleAndClaim, an
 * inventory report, the doctor's fixes) has that host read again; the
 * scheduler's own claims settle their reservation instead (scheduleAndClaim).
 */
export function candidateIndexOf(ctx: ControllerContext): CandidateIndex {
  let index = indexes.get(ctx.store);
  if (!index) {
    const db = ctx.store.reader;
    const directory = aggregateDirectoryOf(ctx);
    const created = new CandidateIndex((hosts) => indexedHostRows(db, hosts), {
      reloadMs: CANDIDATE_INDEX_RELOAD_MS, tagsOf: (host) => directory.tagsOf(host),
    });
    index = created;
    ctx.store.deviceChanges.subscribe((hosts) => {
      for (const host of hosts) created.markChanged(host);
    });
    // A host that joined or left a zone or an aggregate is bucketed again under its new tags.
    directory.onHostsChanged((hosts) => {
      for (const host of hosts) created.markChanged(host);
    });
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

function isRetryableDbError(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === '40001' || code === '40P01' || code === 'SQLITE_BUSY';
}

/** How often a decision is retried after the database asked for it (a serialization failure, a busy file). */
const DB_RETRIES = 3;

type Decision = { host: string } | { host: null; reason: string };

/**
 * The scheduling decision: candidates from the controller's candidate index
 * (the database's pool index when the index is cold or cannot answer), the
 * filter and weigher pipeline, then the claim of resources and devices and
 * the caller's own writes (binding, guest, server state) in ONE transaction.
 * The decision itself runs inside that transaction, so decisions queued
 * together (one group commit) each see the claims of those before them
 * instead of all choosing the same host. A claim that lost a race (another
 * controller process) moves on to the next host; nothing is left half-claimed.
 */
export async function scheduleAndClaim<Ahead>(
  ctx: ControllerContext,
  request: ResourceRequest,
  claim: { consumer: string; instanceUuid: string },
  commit: (trx: Unit, host: string, claimed: ClaimedDevice[], ahead: Ahead) => Promise<void>,
  /** Reads the commit will need, started before the claim so they ride with its first round trip (readLater). */
  readAhead?: (trx: Unit) => Ahead,
): Promise<ScheduleOutcome> {
  // Counted and timed here, once per decision: a counter increment and a histogram observe.
  const metrics = metricsOf(ctx);
  const started = performance.now();
  let outcome: SchedulerOutcome = 'error';
  try {
    const result = await decideAndClaim(ctx, request, claim, commit, readAhead);
    outcome = result.placed ? 'placed' : 'no_valid_host';
    return result;
  } catch (e) {
    if (e instanceof ScheduleAborted) outcome = 'aborted';
    throw e;
  } finally {
    metrics.schedulerDecisionSeconds.observe((performance.now() - started) / 1000);
    metrics.schedulerDecisions.inc({ outcome });
  }
}

async function decideAndClaim<Ahead>(
  ctx: ControllerContext,
  request: ResourceRequest,
  claim: { consumer: string; instanceUuid: string },
  commit: (trx: Unit, host: string, claimed: ClaimedDevice[], ahead: Ahead) => Promise<void>,
  readAhead?: (trx: Unit) => Ahead,
): Promise<ScheduleOutcome> {
  const index = candidateIndexOf(ctx);
  index.reloadIfOld().catch(() => { /* the database path answers meanwhile */ });
  const lost = new Set<string>();
  let lastConflict: string | null = null;
  for (let dbRetries = 0; ;) {
    let chosen: string | null = null;
    try {
      return await ctx.store.transact(async (trx): Promise<ScheduleOutcome> => {
        chosen = null;
        // A group member's placement holds its group's lock from here to the commit (serverGroupPlacement.ts).
        const placing = request.serverGroup ? await withServerGroup(trx, request, claim.instanceUuid) : request;
        const decision = placing.group ? await decideForGroup(ctx, trx, index, placing, lost) : await decide(ctx, trx, index, placing, lost);
        if (decision.host === null) return { placed: false, reason: lastConflict ?? decision.reason };
        chosen = decision.host;
        checkGroupPolicy(chosen, placing);
        const reservation = index.reserve(chosen, request);
        // The claim's exact pool changes settle the reservation (and so are not on the device feed).
        const poolChanges: PoolDelta[] = [];
        const numaSettled: NumaSettlement = {};
        let claimed: ClaimedDevice[];
        try {
          const ahead = readAhead?.(trx) as Ahead;
          claimed = await claimOnHost(trx, {
            host: chosen, consumer: claim.consumer, instanceUuid: claim.instanceUuid,
            vcpus: request.vcpus, memoryMb: request.memoryMb, diskGb: request.diskGb, pciRequests: request.pciRequests,
            numa: request.numa,
          }, poolChanges, numaSettled);
          await commit(trx, chosen, claimed, ahead);
        } catch (e) {
          index.cancel(reservation);
          throw e;
        }
        index.settle(reservation, poolChanges, numaSettled.usage);
        return { placed: true, host: chosen, claimed };
      });
    } catch (e) {
      // The entry may hold a claim that did not commit, or was stale (another process, a release).
      if (chosen) index.markChanged(chosen);
      if (e instanceof ClaimConflict && chosen) {
        lost.add(chosen);
        lastConflict = e.message;
        continue;
      }
      if (isRetryableDbError(e) && ++dbRetries < DB_RETRIES) continue;
      throw e;
    }
  }
}

/** The best host for the request, skipping hosts that already lost a claim in this decision. */
async function decide(
  ctx: ControllerContext, trx: Unit, index: CandidateIndex, request: ResourceRequest, lost: Set<string>,
): Promise<Decision> {
  const limit = ctx.config.scheduler_candidate_limit;
  // Zones and aggregate requirements narrow the candidates before any filter (no scan of every host).
  const directory = aggregateDirectoryOf(ctx);
  let scope: HostScope | null = null;
  if (request.availabilityZone || request.aggregateSpecs) {
    await directory.ready();
    scope = directory.scopeFor(request);
  }
  // A fleet that fits in one page of the database query gains nothing from the
  // index and is where one stale entry (a release this process did not see)
  // would change the choice most: the database answers exactly there.
  const fromIndex = index.size > limit ? index.candidates(request, limit, ctx.config.service_down_time, Date.now(), scope?.tags) : null;
  if (fromIndex && fromIndex.length > 0) {
    const best = selectHosts(withAggregates(directory, scope, fromIndex.filter((h) => !lost.has(h.host))), request).ranked[0];
    if (best) return { host: best.host };
  }
  let reason = 'no compute host is registered';
  for (let offset = 0; ; offset += limit) {
    const page = await candidateHosts(trx, request, { limit, offset }, ctx.config.service_down_time, scope ?? undefined);
    if (page.hosts.length === 0 && offset === 0) {
      reason = scope ? `no host in ${request.availabilityZone ? `availability zone ${request.availabilityZone}` : 'an aggregate the flavor asks for'}`
        : explainNoValidHost({ ranked: [], rejections: {} }, 0);
    }
    const candidates = withAggregates(directory, scope, page.hosts.filter((h) => !lost.has(h.host)));
    const selection = selectHosts(candidates, request);
    if (selection.ranked[0]) return { host: selection.ranked[0].host };
    if (candidates.length > 0) reason = explainNoValidHost(selection, candidates.length);
    if (page.exhausted) return { host: null, reason };
  }
}

/** A group member's decision: the group's requests in turn (groupAttempts), the first with a host wins. */
async function decideForGroup(
  ctx: ControllerContext, trx: Unit, index: CandidateIndex, request: ResourceRequest, lost: Set<string>,
): Promise<Decision> {
  let decision: Decision = { host: null, reason: 'no attempt' };
  for (const attempt of groupAttempts(request)) {
    decision = await decide(ctx, trx, index, attempt, lost);
    if (decision.host !== null) return decision;
  }
  return decision;
}

/** The zone and aggregate filters' view of each candidate, only for a request they judge (O(candidates)). */
function withAggregates(directory: AggregateDirectory, scope: HostScope | null, hosts: HostState[]): HostState[] {
  if (!scope) return hosts;
  for (const h of hosts) {
    h.zones = directory.zonesOf(h.host);
    h.aggregateMetadata = directory.metadataOf(h.host);
  }
  return hosts;
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
