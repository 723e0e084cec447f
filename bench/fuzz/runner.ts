/**
 * The fuzzing loop: one request at a time, a snapshot of the database before
 * and after each, and a tally of what came back. A request answered 4xx must
 * leave the database as it found it; nothing may answer 5xx.
 */
import fc from 'fast-check';
import { createFixtures, ensureServer, ensureVictims, readPools, setUpActors } from './actors.js';
import { startTarget } from './controller.js';
import { describeChange, EXCLUDED, sameSnapshot, type DatabaseProbe, type Snapshot } from './digest.js';
import { send } from './http.js';
import { operationsOf } from './openapi.js';
import { caseArb, type RequestCase } from './requests.js';

export interface FuzzOptions {
  durationMs: number;
  backend: 'sqlite' | 'postgres';
  seed: number;
  postgresServer?: string;
  log?: (msg: string) => void;
  /** Called with the summary when the requests end, before the controller stops. */
  onSummary?: (summary: FuzzSummary) => void;
}

export interface Finding {
  method: string;
  path: string;
  actor: string;
  body_kind: string;
  body_excerpt: string;
  headers: Record<string, string>;
  status: number | string;
  response_excerpt: string;
  changed?: ReturnType<typeof describeChange>;
  /** How many requests had the same method, route and status. */
  occurrences: number;
}

export interface FuzzSummary {
  backend: string;
  seed: number;
  seconds: number;
  operations: number;
  operations_requested: number;
  requests: number;
  by_status: Record<string, number>;
  by_body_kind: Record<string, number>;
  five_xx: number;
  /** 5xx answers OpenStack gives by design (EXPECTED_5XX). */
  expected_5xx: number;
  changed_by_rejected: number;
  /** Accepted requests after which the snapshot differed: shows the probe sees writes at all. */
  changed_by_accepted: number;
  /** Rejected requests not checked because the database had not settled from earlier accepted work. */
  unchecked: number;
  timeouts: number;
  connection_errors: number;
  excluded_columns: Record<string, string[]>;
  /** Operations requested but never answered 2xx: where the fuzzer's valid requests do not reach the handler's success path. */
  never_accepted: string[];
  samples: { five_xx: Finding[]; changed_by_rejected: Finding[]; connection_errors: Finding[]; timeouts: Finding[] };
}

/**
 * 5xx answers OpenStack gives on purpose, not faults: Nova answers 501 for
 * os-hypervisors/{id}/uptime when the virt driver has no uptime (ours has none).
 * Counted as expected_5xx, not five_xx.
 */
const EXPECTED_5XX = new Set(['501 GET /compute/v2.1/os-hypervisors/{id}/uptime']);

const REQUEST_TIMEOUT_MS = 5_000;
const SETTLE_POLL_MS = 40;
const SETTLE_LIMIT_MS = 10_000;
const BUSY_QUIET_MS = 500;
const BATCH = 100;
const SAMPLE_LIMIT = 25;

/**
 * Waits until the database holds still: two snapshots SETTLE_POLL_MS apart
 * agree, or, while server work is under way (which may pause between
 * steps), snapshots have agreed for BUSY_QUIET_MS. Null if that takes longer
 * than SETTLE_LIMIT_MS.
 */
async function settle(probe: DatabaseProbe): Promise<Snapshot | null> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  let last = await probe.snapshot();
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, SETTLE_POLL_MS));
    const next = await probe.snapshot();
    if (!sameSnapshot(last, next)) {
      last = next;
      stableSince = Date.now();
      continue;
    }
    if (Date.now() - stableSince >= ((await probe.busy()) ? BUSY_QUIET_MS : SETTLE_POLL_MS)) return next;
  }
  return null;
}

function excerpt(body: string | Buffer | undefined): string {
  if (body === undefined) return '';
  if (Buffer.isBuffer(body)) return `<${body.length} bytes>`;
  return body.length > 300 ? `${body.slice(0, 300)}… (${body.length} chars)` : body;
}

class Samples {
  private readonly byKey = new Map<string, Finding>();
  add(key: string, make: () => Finding): void {
    const known = this.byKey.get(key);
    if (known) known.occurrences++;
    else if (this.byKey.size < SAMPLE_LIMIT) this.byKey.set(key, make());
  }
  list(): Finding[] {
    return [...this.byKey.values()];
  }
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzSummary> {
  const log = o.log ?? (() => {});
  const started = Date.now();
  log(`starting the controller on ${o.backend}`);
  const target = await startTarget({ backend: o.backend, postgresServer: o.postgresServer });
  try {
    const tokens = await setUpActors(target.aio, target.probe);
    log(`actors ready after ${Math.round((Date.now() - started) / 1000)} s`);
    await createFixtures(target.url, tokens);
    log(`fixtures ready after ${Math.round((Date.now() - started) / 1000)} s`);
    const doc = await (await fetch(`${target.url}/openapi.json`)).json();
    const ops = operationsOf(doc);
    log(`${ops.length} operations in /openapi.json; fuzzing for ${Math.round(o.durationMs / 1000)} s (seed ${o.seed})`);
    const byStatus: Record<string, number> = {};
    const byBodyKind: Record<string, number> = {};
    const requested = new Set<string>();
    const accepted = new Set<string>();
    const fiveXx = new Samples();
    const changed = new Samples();
    const errors = new Samples();
    const timedOut = new Samples();
    let requests = 0, five = 0, expected5xx = 0, changedByRejected = 0, changedByAccepted = 0, unchecked = 0, timeouts = 0, connectionErrors = 0;
    let settled = await settle(target.probe) !== null;
    const deadline = Date.now() + o.durationMs;
    const finding = (c: RequestCase, status: number | string, text: string, diff?: Finding['changed']): Finding => ({
      method: c.method, path: c.url.length > 400 ? `${c.url.slice(0, 400)}…` : c.url, actor: c.actor, body_kind: c.bodyKind,
      body_excerpt: excerpt(c.body), headers: c.headers, status, response_excerpt: text.slice(0, 300), ...(diff ? { changed: diff } : {}), occurrences: 1,
    });
    for (let batch = 0; Date.now() < deadline; batch++) {
      // Identity writes may have deleted a victim: bring it back while nothing is being checked.
      await ensureVictims(target.url, tokens.admin);
      await ensureServer(target.url, tokens);
      settled = false;
      const pools = await readPools(target.url, tokens);
      const cases = fc.sample(caseArb(ops, pools), { seed: o.seed + batch, numRuns: BATCH });
      for (const c of cases) {
        if (Date.now() >= deadline) break;
        if (!settled) settled = await settle(target.probe) !== null;
        const before = await target.probe.snapshot();
        const headers = { ...c.headers };
        const token = tokens[c.actor];
        if (token !== undefined) headers['x-auth-token'] = token;
        const r = await send(target.url + c.url, c.method, headers, c.body, REQUEST_TIMEOUT_MS);
        requests++;
        requested.add(`${c.method} ${c.template}`);
        if (typeof r.status === 'number' && r.status < 300) accepted.add(`${c.method} ${c.template}`);
        byStatus[String(r.status)] = (byStatus[String(r.status)] ?? 0) + 1;
        byBodyKind[c.bodyKind] = (byBodyKind[c.bodyKind] ?? 0) + 1;
        const key = `${c.method} ${c.template} ${r.status}`;
        if (r.status === 'timeout') {
          timeouts++;
          timedOut.add(key, () => finding(c, r.status, ''));
        }
        if (r.status === 'error') {
          connectionErrors++;
          errors.add(key, () => finding(c, r.status, r.error ?? ''));
        }
        if (typeof r.status === 'number' && EXPECTED_5XX.has(`${r.status} ${c.method} ${c.template}`)) expected5xx++;
        else if (typeof r.status === 'number' && r.status >= 500) {
          five++;
          fiveXx.add(key, () => finding(c, r.status, r.text));
        }
        if (typeof r.status === 'number' && r.status >= 400 && r.status < 500) {
          const after = await target.probe.snapshot();
          if (!settled) unchecked++;
          else if (!sameSnapshot(before, after)) {
            changedByRejected++;
            changed.add(key, () => finding(c, r.status, r.text, describeChange(before, after)));
          }
        } else {
          // Accepted (or unknown): whatever it started must finish before the next check is sound.
          if (typeof r.status === 'number' && r.status < 400 && !sameSnapshot(before, await target.probe.snapshot())) changedByAccepted++;
          settled = false;
        }
      }
      log(`${requests} requests, ${five} 5xx, ${changedByRejected} changed by rejected`);
    }
    const summary: FuzzSummary = {
      backend: o.backend, seed: o.seed, seconds: Math.round((Date.now() - started) / 1000), operations: ops.length,
      operations_requested: requested.size, requests, by_status: byStatus, by_body_kind: byBodyKind, five_xx: five, expected_5xx: expected5xx,
      changed_by_rejected: changedByRejected, changed_by_accepted: changedByAccepted, unchecked, timeouts, connection_errors: connectionErrors, excluded_columns: EXCLUDED,
      never_accepted: [...requested].filter((k) => !accepted.has(k)).sort(),
      samples: { five_xx: fiveXx.list(), changed_by_rejected: changed.list(), connection_errors: errors.list(), timeouts: timedOut.list() },
    };
    o.onSummary?.(summary);
    return summary;
  } finally {
    await target.stop();
  }
}
