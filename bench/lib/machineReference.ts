import BetterSqlite3 from 'better-sqlite3';

/**
 * A fixed piece of work of the controller's kind (SQLite inserts and indexed
 * reads in memory, JSON both ways), timed on this machine. Machines of one
 * kind are not equally fast, and a shared VM's speed moves within minutes:
 * a benchmark line carries this figure from just before and just after its
 * run, so two runs can be compared by how fast the machine was at the time.
 * The median of three repetitions after one to warm up, in milliseconds;
 * lower is faster.
 */
export function machineReferenceMs(): number {
  referenceWork();
  const times = [0, 1, 2].map(() => {
    const t = performance.now();
    referenceWork();
    return performance.now() - t;
  });
  times.sort((a, b) => a - b);
  return Math.round(times[1]! * 10) / 10;
}

function referenceWork(): void {
  const db = new BetterSqlite3(':memory:');
  try {
    db.exec('create table t (id integer primary key, host text not null, v text not null); create index t_host on t (host)');
    const insert = db.prepare('insert into t (host, v) values (?, ?)');
    const byHost = db.prepare('select * from t where host = ? limit 1');
    db.transaction(() => {
      for (let i = 0; i < 20_000; i++) insert.run(`compute-${i}`, `{"address":"0000:06:00.${i % 8}","status":"available"}`);
    })();
    let found = 0;
    for (let i = 0; i < 20_000; i++) if (byHost.get(`compute-${(i * 7919) % 20_000}`)) found += 1;
    const rows = Array.from({ length: 2_000 }, (_, i) => ({ id: i, host: `compute-${i}`, status: 'ACTIVE', found }));
    for (let i = 0; i < 10; i++) JSON.parse(JSON.stringify(rows));
  } finally {
    db.close();
  }
}
