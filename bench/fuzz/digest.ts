/**
 * The database's durable state as comparable snapshots: every table's rows,
 * less the columns that change by themselves while the controller runs. The
 * fuzzer takes one before and one after each request; a request the API
 * rejected (4xx) must leave them equal.
 */
import { createHash } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

/**
 * Columns (or whole tables, '*') left out of the digest, each because
 * something other than the request under test writes it:
 */
export const EXCLUDED: Record<string, string[]> = {
  // Heartbeats: every agent reports each report_interval (set high by the
  // fuzzer, but the agents' first beats and re-registrations still land).
  services: ['last_seen_up', 'report_count', 'updated_at'],
  // Inventory reports and usage refreshes from the agents stamp the row.
  compute_nodes: ['updated_at'],
  // The agents' inventory sync touches every device row it reports.
  pci_devices: ['updated_at'],
  // Singleton periodic jobs renew their lease every few seconds.
  cluster_leases: ['expires_at'],
  // The operation engine takes and renews a lease on a server while it works on it.
  instances: ['lease_owner', 'lease_expires_at'],
  // A failed password is meant to be counted on its 401 (Keystone's
  // lockout_failure_attempts); the count and its time are that record.
  users: ['failed_auth_count', 'failed_auth_at'],
};

export type Snapshot = Map<string, string[]>;

/** Server work under way: a task state set, or a guest the agent has not yet converged to its spec. */
const BUSY_SQL = `select (select count(*) from instances where task_state is not null)
  + (select count(*) from guests where observed_generation <> generation) as n`;

export interface DatabaseProbe {
  snapshot(): Promise<Snapshot>;
  /** True while server work is under way (it may write again after a pause). */
  busy(): Promise<boolean>;
  /** Runs one statement with write access (the fuzzer's setup of an expired token). */
  write(sql: string, params: unknown[]): Promise<void>;
  close(): Promise<void>;
}

function rowKey(row: Record<string, unknown>, excluded: string[]): string {
  const keys = Object.keys(row).filter((k) => !excluded.includes(k)).sort();
  return JSON.stringify(keys.map((k) => [k, row[k] instanceof Date ? (row[k] as Date).toISOString() : row[k]]));
}

function tableRows(table: string, rows: Record<string, unknown>[]): string[] {
  const excluded = EXCLUDED[table] ?? [];
  if (excluded.includes('*')) return [];
  return rows.map((r) => rowKey(r, excluded)).sort();
}

export function sqliteProbe(file: string): DatabaseProbe {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  const tables = (db.prepare("select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name").all() as { name: string }[]).map((t) => t.name);
  return {
    async snapshot() {
      const snap: Snapshot = new Map();
      // One read transaction: all tables as of the same commit.
      db.transaction(() => {
        for (const t of tables) snap.set(t, tableRows(t, db.prepare(`select * from "${t}"`).all() as Record<string, unknown>[]));
      })();
      return snap;
    },
    async busy() {
      return Number((db.prepare(BUSY_SQL).get() as { n: number }).n) > 0;
    },
    async write(sql, params) {
      const w = new BetterSqlite3(file, { fileMustExist: true });
      try {
        w.pragma('busy_timeout = 5000');
        w.prepare(sql.replace(/\$\d+/g, '?')).run(...params);
      } finally {
        w.close();
      }
    },
    async close() {
      db.close();
    },
  };
}

export async function postgresProbe(url: string): Promise<DatabaseProbe> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const tables = (await client.query("select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name")).rows.map((r) => r.table_name as string);
  // One statement (one snapshot of every table, one round trip): each table's rows as a JSON array.
  const everything = `select ${tables.map((t, i) => `(select coalesce(json_agg(x), '[]'::json) from "${t}" x) as t${i}`).join(', ')}`;
  return {
    async snapshot() {
      const snap: Snapshot = new Map();
      const row = (await client.query(everything)).rows[0];
      tables.forEach((t, i) => snap.set(t, tableRows(t, row[`t${i}`])));
      return snap;
    },
    async busy() {
      return Number((await client.query(BUSY_SQL)).rows[0].n) > 0;
    },
    async write(sql, params) {
      await client.query(sql, params);
    },
    async close() {
      await client.end();
    },
  };
}

export function digestOf(snap: Snapshot): string {
  const h = createHash('sha256');
  for (const [t, rows] of snap) h.update(t).update('\0').update(rows.join('\n')).update('\0');
  return h.digest('hex');
}

type RowChange = { removed: string[]; added: string[]; changed: Record<string, [unknown, unknown]>[] };

function shorten(v: unknown): unknown {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text && text.length > 160 ? `${text.slice(0, 160)}…` : v;
}

/**
 * What differs between two snapshots, per table: a row that lost and gained
 * values shows as the columns that changed; other rows gone and new are
 * listed (a few of each, shortened).
 */
export function describeChange(before: Snapshot, after: Snapshot): Record<string, RowChange> {
  const out: Record<string, RowChange> = {};
  for (const [t, rowsAfter] of after) {
    const rowsBefore = before.get(t) ?? [];
    if (rowsBefore.length === rowsAfter.length && rowsBefore.every((r, i) => r === rowsAfter[i])) continue;
    const a = new Set(rowsAfter);
    const b = new Set(rowsBefore);
    const removed = rowsBefore.filter((r) => !a.has(r)).map((r) => new Map(JSON.parse(r) as [string, unknown][]));
    const added = rowsAfter.filter((r) => !b.has(r)).map((r) => new Map(JSON.parse(r) as [string, unknown][]));
    const change: RowChange = { removed: [], added: [], changed: [] };
    for (const old of removed) {
      // The new row that agrees with this one on most columns is the same row, changed.
      let best = -1, bestSame = 0;
      added.forEach((row, i) => {
        const same = [...old].filter(([k, v]) => JSON.stringify(row.get(k)) === JSON.stringify(v)).length;
        if (same > bestSame) { best = i; bestSame = same; }
      });
      if (best >= 0 && bestSame >= old.size / 2) {
        const row = added.splice(best, 1)[0]!;
        const diff: Record<string, [unknown, unknown]> = {};
        for (const [k, v] of old) if (JSON.stringify(row.get(k)) !== JSON.stringify(v)) diff[k] = [shorten(v), shorten(row.get(k))];
        diff.__row = [shorten(JSON.stringify([...old].slice(0, 3))), null];
        change.changed.push(diff);
      } else change.removed.push(String(shorten(JSON.stringify([...old]))));
    }
    change.added = added.map((r) => String(shorten(JSON.stringify([...r]))));
    change.removed = change.removed.slice(0, 3);
    change.added = change.added.slice(0, 3);
    change.changed = change.changed.slice(0, 3);
    out[t] = change;
  }
  return out;
}

export function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  if (a.size !== b.size) return false;
  for (const [t, rows] of a) {
    const other = b.get(t);
    if (!other || other.length !== rows.length || rows.some((r, i) => r !== other[i])) return false;
  }
  return true;
}
