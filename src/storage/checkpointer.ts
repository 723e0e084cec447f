import { Worker } from 'node:worker_threads';

/**
 * How many WAL pages the serving connection lets pile up before it
 * checkpoints by itself: the safety net for when the checkpoint thread falls
 * behind or is gone. Normally the thread keeps the WAL far below it.
 */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 8192;

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
