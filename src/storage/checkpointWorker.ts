import { workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';

// The checkpoint thread of checkpointer.ts: its own connection to the same database file.
const { path, intervalMs } = workerData as { path: string; intervalMs: number };
const db = new BetterSqlite3(path);
db.pragma('busy_timeout = 0');
// This connection never writes, so it never checkpoints on commit; it checkpoints only here.
const checkpoint = db.prepare('pragma wal_checkpoint(passive)');

function tick(): void {
  try {
    checkpoint.run();
  } catch {
    // Busy (another checkpoint or a schema change): the next tick tries again.
  }
}

// Runs until checkpointer.stop() terminates the thread: termination waits for a checkpoint in
// progress (native code is not interrupted), and the thread's teardown closes the connection.
setInterval(tick, intervalMs);
