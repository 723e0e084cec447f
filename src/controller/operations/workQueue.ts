/**
 * A work queue keyed by server uuid, the way Kubernetes controllers queue
 * objects: a key queued twice runs once, a key that is running when queued
 * again runs once more afterwards (so nothing that happened meanwhile is
 * missed), a key is never worked on by two workers, and a failure is retried
 * with exponential backoff. The queue holds only keys: what to do is read
 * from the database when the key runs, so losing the queue (a crash) loses
 * nothing the periodic resync does not find again.
 */
export type WorkOutcome = void | { retryInMs: number };

export interface WorkQueueOptions {
  concurrency: number;
  /** First retry delay after a failure; doubled each time up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  onError?: (key: string, err: unknown, attempt: number) => void;
}

export class KeyedWorkQueue<Hint = never> {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private readonly hints = new Map<string, Hint>();
  private readonly idleWaiters: Array<() => void> = [];
  private active = 0;
  private stopped = false;

  constructor(
    private readonly work: (key: string, hint: Hint | undefined) => Promise<WorkOutcome>,
    private readonly options: WorkQueueOptions,
  ) {}

  /** Queues `key` (now, or after `delayMs`); `hint` is passed to its next run only. */
  add(key: string, opts: { delayMs?: number; hint?: Hint } = {}): void {
    if (this.stopped) return;
    if (opts.hint !== undefined) this.hints.set(key, opts.hint);
    if (opts.delayMs && opts.delayMs > 0) {
      if (this.timers.has(key) || this.queued.has(key)) return;
      const timer = setTimeout(() => {
        this.timers.delete(key);
        this.add(key);
      }, opts.delayMs);
      timer.unref();
      this.timers.set(key, timer);
      return;
    }
    if (this.running.has(key)) {
      this.again.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    const timer = this.timers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(key);
    }
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
  }

  get size(): number {
    return this.queued.size + this.running.size + this.timers.size;
  }

  /** Resolves when nothing is queued or running (delayed retries aside). */
  async drained(): Promise<void> {
    if (this.queued.size === 0 && this.running.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work and waits for the keys being worked on. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.ready.length = 0;
    this.queued.clear();
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, 10));
  }

  private pump(): void {
    while (this.active < this.options.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      this.queued.delete(key);
      this.running.add(key);
      this.active += 1;
      const hint = this.hints.get(key);
      this.hints.delete(key);
      void this.runOne(key, hint);
    }
    if (this.active === 0 && this.ready.length === 0) {
      for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  private async runOne(key: string, hint: Hint | undefined): Promise<void> {
    let retryInMs: number | null = null;
    try {
      const outcome = await this.work(key, hint);
      this.failures.delete(key);
      if (outcome && typeof outcome === 'object') retryInMs = outcome.retryInMs;
    } catch (err) {
      const attempt = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, attempt);
      this.options.onError?.(key, err, attempt);
      const first = this.options.initialBackoffMs ?? 100;
      retryInMs = Math.min(first * 2 ** (attempt - 1), this.options.maxBackoffMs ?? 30_000);
    } finally {
      this.running.delete(key);
      this.active -= 1;
    }
    if (this.again.delete(key)) this.add(key);
    else if (retryInMs !== null) this.add(key, { delayMs: retryInMs });
    this.pump();
  }
}
