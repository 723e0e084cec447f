import { writeFileSync } from 'node:fs';
import type BetterSqlite3 from 'better-sqlite3';

interface Figure { calls: number; ns: bigint }

export type SqlFigures = Map<string, Figure>;

/** One more call of `key`, taking `ns`. */
function addCall(figures: SqlFigures, key: string, ns: bigint): void {
  const f = figures.get(key) ?? { calls: 0, ns: 0n };
  f.calls++;
  f.ns += ns;
  figures.set(key, f);
}

/**
 * Opt-in (VDPA_SQL_PROFILE=<file>): counts and times every SQLite statement
 * by its SQL text and writes the table to <file> when the process exits, so
 * a benchmark can say which statements a server costs.
 */
export function profiledStatement(stmt: BetterSqlite3.Statement, sql: string, figures: Map<string, Figure>): BetterSqlite3.Statement {
  const wrap = (name: 'all' | 'run' | 'get') => {
    const original = (stmt as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.bind(stmt);
    (stmt as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const start = process.hrtime.bigint();
      try {
        return original(...args);
      } finally {
        addCall(figures, sql, process.hrtime.bigint() - start);
      }
    };
  };
  wrap('all'); wrap('run'); wrap('get');
  return stmt;
}

/** The same table for PostgreSQL: round trip time of each statement, by its SQL text. */
export function profiledQuery<T>(sql: string, figures: Map<string, Figure>, run: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const count = () => addCall(figures, sql, process.hrtime.bigint() - start);
  const p = run();
  p.then(count, count);
  return p;
}

/**
 * A pipeline's statements share one round trip: each is counted under
 * "[pipelined] <sql>" with an equal share of its time, and the round trip
 * itself under "[pipeline of N]", so the rows without the first prefix add
 * up to the round trips.
 */
export function profiledPipeline<T>(sqls: string[], figures: Map<string, Figure>, run: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  const count = () => {
    const took = process.hrtime.bigint() - start;
    addCall(figures, `[pipeline of ${sqls.length}]`, took);
    for (const sql of sqls) addCall(figures, `[pipelined] ${sql}`, took / BigInt(sqls.length));
  };
  const p = run();
  p.then(count, count);
  return p;
}

export function sqlProfileFigures(file: string): Map<string, Figure> {
  const figures = new Map<string, Figure>();
  const dump = () => {
    const rows = [...figures.entries()].sort((a, b) => Number(b[1].ns - a[1].ns))
      .map(([sql, f]) => `${f.calls}\t${(Number(f.ns) / 1e6).toFixed(1)}ms\t${(Number(f.ns) / 1e3 / f.calls).toFixed(1)}us\t${sql.replace(/\s+/g, ' ').slice(0, 300)}`);
    writeFileSync(file, `calls\ttotal\tavg\tsql\n${rows.join('\n')}\n`);
  };
  process.on('exit', dump);
  process.on('SIGUSR2', dump);
  return figures;
}
