/**
 * Something woken by the clock: `kind` says which of its periodic jobs is due.
 */
export interface ClockTarget {
  onTick(kind: number): void;
}

/**
 * One timer for every agent in the process. The all-in-one runs thousands of
 * agents, each with a heartbeat, a fallback poll and a rediscovery; a timer
 * (and a suspended loop) per job per agent was a third of the controller's
 * live heap. Here a job is two array slots in the bucket of its due time, and
 * one Node timer waits for the earliest bucket.
 *
 * A target has at most one entry per kind (it schedules the next run when the
 * previous one fired, or cancels it), so cancelling is a search in one bucket.
 */
export class AgentClock {
  /** due slot → [target, kind, target, kind, …] */
  private readonly buckets = new Map<number, Array<ClockTarget | number>>();
  /** Slots that have a bucket, as a binary min-heap. */
  private readonly heap: number[] = [];
  private timer: NodeJS.Timeout | null = null;
  private timerSlot = Infinity;

  /** Jobs are rounded up to slots of this many ms. */
  constructor(private readonly slotMs = 20) {}

  /** Runs `target.onTick(kind)` in about `delayMs`; returns the slot, which `cancel` needs. */
  schedule(target: ClockTarget, kind: number, delayMs: number): number {
    const slot = Math.ceil((Date.now() + Math.max(0, delayMs)) / this.slotMs);
    let bucket = this.buckets.get(slot);
    if (!bucket) {
      bucket = [];
      this.buckets.set(slot, bucket);
      heapPush(this.heap, slot);
    }
    bucket.push(target, kind);
    if (slot < this.timerSlot) this.arm(slot);
    return slot;
  }

  /** Takes the job out of its bucket (nothing happens if it already ran). */
  cancel(target: ClockTarget, kind: number, slot: number): void {
    const bucket = this.buckets.get(slot);
    if (!bucket) return;
    for (let i = 0; i < bucket.length; i += 2) {
      if (bucket[i] === target && bucket[i + 1] === kind) {
        bucket.splice(i, 2);
        break;
      }
    }
    if (bucket.length > 0) return;
    // Its slot stays in the heap (skipped when it comes up); with no job left the timer goes, so a
    // process whose agents all stopped can exit.
    this.buckets.delete(slot);
    if (this.buckets.size === 0) {
      this.heap.length = 0;
      this.disarm();
    }
  }

  /** Jobs waiting (for tests and diagnostics). */
  get size(): number {
    let n = 0;
    for (const bucket of this.buckets.values()) n += bucket.length / 2;
    return n;
  }

  private arm(slot: number): void {
    this.disarm();
    this.timerSlot = slot;
    this.timer = setTimeout(this.fire, Math.max(0, slot * this.slotMs - Date.now()));
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerSlot = Infinity;
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.timerSlot = Infinity;
    const now = Math.floor(Date.now() / this.slotMs);
    while (this.heap.length > 0 && this.heap[0]! <= now) {
      const slot = heapPop(this.heap);
      const bucket = this.buckets.get(slot);
      this.buckets.delete(slot);
      if (!bucket) continue;
      for (let i = 0; i < bucket.length; i += 2) {
        try {
          (bucket[i] as ClockTarget).onTick(bucket[i + 1] as number);
        } catch {
          // A target handles its own errors; one that throws must not starve the others.
        }
      }
    }
    if (this.heap.length > 0) this.arm(this.heap[0]!);
  };
}

/** The clock of this process's agents. */
export const agentClock = new AgentClock();

function heapPush(heap: number[], value: number): void {
  let i = heap.push(value) - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= value) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[]): number {
  const top = heap[0]!;
  const last = heap.pop()!;
  if (heap.length > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const c = r < heap.length && heap[r]! < heap[l]! ? r : l;
      if (heap[c]! >= last) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
  }
  return top;
}
