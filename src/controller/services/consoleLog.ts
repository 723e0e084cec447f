import { randomUUID } from 'node:crypto';
import { Conflict, InternalError, NotFound } from '../../domain/errors.js';
import { TaskState } from '../../domain/lifecycle/serverStatus.js';
import type { ConsoleAnswer, ConsoleRequest } from '../../protocol/agentProtocol.js';
import {
  answerConsoleRequestRow, deleteConsoleRequest, getConsoleRequest, insertConsoleRequest, unansweredConsoleRequests,
} from '../../storage/repositories/consoleRequests.js';
import type { InstanceRecord } from '../../storage/repositories/instances.js';
import { nowIso } from '../../storage/repositories/json.js';
import type { ControllerContext } from '../context.js';

/**
 * A server's console log, read on its host. The controller never calls an
 * agent (remote agents long-poll it), so the question is a row in
 * console_requests: the API call writes it and wakes the host's agent
 * (ctx.signals, which also crosses controller processes), the agent reads
 * the log through its driver and answers through the agent API, and the
 * API call, polling the row, returns the answer. A host that does not
 * answer within `console_log_timeout` seconds gets the caller a 500, as an
 * RPC timeout does in Nova; the row is removed either way, so a late answer
 * changes nothing.
 */

/** The answer's error when the guest has no console (Nova's ConsoleNotAvailable, a 404). */
const NOT_AVAILABLE = 'console-not-available';
const POLL_MS = 50;

/** Task states in which Nova refuses get_console_output (it answers them with a 500; we say 409). */
const REFUSED_TASK_STATES = new Set<string>([TaskState.DELETING, TaskState.MIGRATING]);

/**
 * Hosts with a console request this process is waiting on. On SQLite this
 * process is the only one that asks (the API runs nowhere else), so an agent's
 * work pass for any other host needs no read of console_requests; on
 * PostgreSQL another controller may have asked, and the table is read.
 */
const askedHere = new WeakMap<ControllerContext, Map<string, number>>();

function hostsAskedHere(ctx: ControllerContext): Map<string, number> {
  let hosts = askedHere.get(ctx);
  if (!hosts) askedHere.set(ctx, (hosts = new Map()));
  return hosts;
}

export async function consoleOutput(ctx: ControllerContext, instance: InstanceRecord, lines: number | null): Promise<string> {
  const host = instance.host;
  if (!host) throw new Conflict(`Instance ${instance.uuid} is not ready`);
  if (instance.taskState && REFUSED_TASK_STATES.has(instance.taskState)) {
    throw new Conflict(`Cannot 'get_console_output' instance ${instance.uuid} while it is in task_state ${instance.taskState}`);
  }
  const id = randomUUID();
  const asked = hostsAskedHere(ctx);
  asked.set(host, (asked.get(host) ?? 0) + 1);
  try {
    return await askHost(ctx, instance, host, id, lines);
  } finally {
    const left = (asked.get(host) ?? 1) - 1;
    if (left > 0) asked.set(host, left);
    else asked.delete(host);
  }
}

async function askHost(ctx: ControllerContext, instance: InstanceRecord, host: string, id: string, lines: number | null): Promise<string> {
  await ctx.store.transact((trx) => insertConsoleRequest(trx, {
    id, host, instance_uuid: instance.uuid, lines, created_at: nowIso(), answered_at: null, output: null, error: null,
  }));
  ctx.signals.notify(host);
  const deadline = Date.now() + ctx.config.console_log_timeout * 1000;
  try {
    for (;;) {
      const row = await getConsoleRequest(ctx.store.reader, id);
      if (row?.answered_at) {
        if (row.error === NOT_AVAILABLE) throw new NotFound('Guest does not have a console available.');
        if (row.error !== null) throw new InternalError(`Reading the console log of instance ${instance.uuid} on compute host ${host} failed: ${row.error}`);
        return row.output ?? '';
      }
      if (Date.now() >= deadline) {
        throw new InternalError(`Compute host ${host} did not answer the console log request of instance ${instance.uuid} within ${ctx.config.console_log_timeout} s.`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await ctx.store.transact((trx) => deleteConsoleRequest(trx, id));
  }
}

/** The agent protocol's side: what a host is asked, and its answer. */
export async function pendingConsoleRequests(ctx: ControllerContext, host: string): Promise<ConsoleRequest[]> {
  if (ctx.store.singleProcess && !hostsAskedHere(ctx).has(host)) return [];
  const rows = await unansweredConsoleRequests(ctx.store.reader, host);
  return rows.map((r) => ({ id: r.id, instanceUuid: r.instance_uuid, lines: r.lines }));
}

export async function answerConsoleRequest(ctx: ControllerContext, a: ConsoleAnswer): Promise<void> {
  await ctx.store.transact((trx) => answerConsoleRequestRow(trx, a.host, a.id, {
    output: a.output, error: a.notAvailable ? NOT_AVAILABLE : a.error,
  }, nowIso()));
}
