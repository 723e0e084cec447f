import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * The id of the API request a piece of work serves (`req-<uuid>`, the
 * `x-openstack-request-id` its answer carried). It follows the work through
 * the controller (the request's handlers, the operation engine's steps it
 * queued), into the guest instructions it wrote (GuestAssignment.requestId)
 * and back in the agent's report, so one id finds every log line and the
 * instance action of one request.
 */
const scope = new AsyncLocalStorage<string | undefined>();

export function newRequestId(): string {
  return `req-${randomUUID()}`;
}

/**
 * Runs fn with `requestId` as the current request id, or with none when it
 * is undefined: work that may run in whatever scope woke it (a queue worker,
 * an in-process agent's report) starts its own.
 */
export function withRequestId<T>(requestId: string | undefined, fn: () => T): T {
  return scope.run(requestId, fn);
}

/** The request id of the work running now, if it serves one. */
export function currentRequestId(): string | undefined {
  return scope.getStore();
}
