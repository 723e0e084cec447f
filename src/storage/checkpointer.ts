import { Worker } from 'node:worker_threads';

/**
 * How much WAL the serving connection lets pile up before it checkpoints by
 * itself: the safety net for when the checkpoint thread is gone. It must
 * stay above what a burst appends while the thread copies and syncs: at
 * 10,000 claims/s (~18 MB of WAL per 100 ms tick) a net of 16 MB (8,192
 * pages of 2 KiB) was crossed every few hundred claims, and the checkpoint
 * (copy and fsync) then ran inside commits: 8,500–10,100 instead of
 * 12,100–12,700 database decisions/s. The WAL file may grow to this size.
 */
export const FALLBACK_AUTOCHECKPOINT_BYTES = 64 * 1024 * 1024;

/** The fallback in the unit SQLite takes it in: pages of this database. */
export function fallbackAutocheckpointPages(pageSize: number): number {
  return Math.ceil(FALLBACK_AUTOCHECKPOINT_BYTES / pageSize);
}

/** How often the checkpoint thread copies the WAL into the database file. */
export const CHECKPOINT_INTERVAL_MS = 100;

export interface Checkpointer {
  stop(): Promise<void>;
}

/**
 * Moves SQLite's WAL checkpoints off the thread that serves requests. A
 * checkpoint copies committed pages from the WAL into the database file and
 * syncs both; run by the committing connection (SQLite's default) it lands
 * inside some unlucky commit and stalls every caller of that batch on the
 * disk. A second connection on a worker thread checkpoints PASSIVE (never
 * waiting on readers or the writer) every CHECKPOINT_INTERVAL_MS instead, so
 * commits only append to the WAL. Durability is unchanged: a commit is in
 * the WAL before anyone is answered, whoever copies it on later.
 */
export function startCheckpointer(path: string, onFailure: (error: unknown) => void, intervalMs = CHECKPOINT_INTERVAL_MS): Checkpointer {
  const worker = new Worker(new URL('./checkpointWorker.js', import.meta.url), { workerData: { path, intervalMs } });
  // Never keeps the process alive by itself.
  worker.unref();
  worker.on('error', onFailure);
  return {
    async stop() {
      await worker.terminate();
    },
  };
}
