import type { InstanceRecord } from '../../storage/repositories/instances.js';
import type { ControllerContext } from '../context.js';

/**
 * How API handlers, report handlers and operation steps hand a server to
 * the operation engine, without importing it (the engine imports every
 * operation module; this keeps the graph one-way). The engine attaches
 * itself to a context when it is created (buildApp does that for every
 * controller).
 */
export interface ReconcileHint {
  /** A server this process just created and holds the lease of: its first step needs no reads. */
  created?: InstanceRecord;
  /** The API request the work serves (taken from the caller's request scope when not given). */
  requestId?: string;
}

export interface ServerQueue {
  /** Who this process is in lease columns. */
  readonly owner: string;
  /** Queues the server for a reconcile (deduplicated; a running one runs again after). */
  enqueue(uuid: string, hint?: ReconcileHint): void;
}

const queues = new WeakMap<ControllerContext, ServerQueue>();

export function attachServerQueue(ctx: ControllerContext, queue: ServerQueue): void {
  queues.set(ctx, queue);
}

export function serverQueueOf(ctx: ControllerContext): ServerQueue {
  const queue = queues.get(ctx);
  if (!queue) throw new Error('no operation engine is attached to this controller context (buildApp attaches one)');
  return queue;
}
