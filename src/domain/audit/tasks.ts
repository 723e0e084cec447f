/**
 * Rule 6: a task step past its deadline (task_changed_at + operation_timeout).
 * Finishing or rolling it back is the engine's job, so --fix leaves it.
 */
import { finding, type Finding } from './findings.js';
import type { AuditOptions, AuditSnapshot } from './snapshot.js';

export function taskFindings(s: AuditSnapshot, opts: AuditOptions): Finding[] {
  const out: Finding[] = [];
  for (const i of s.instances) {
    if (i.taskState === null) continue;
    const since = i.taskChangedAt ?? i.updatedAt;
    const started = Date.parse(since);
    if (!Number.isFinite(started)) continue;
    const overdue = Math.floor((opts.now - started) / 1000) - opts.operationTimeoutSeconds;
    if (overdue <= 0) continue;
    out.push(finding('task-past-deadline',
      `server ${i.uuid} has been in task ${i.taskState} since ${since}, ${overdue} s past its ${opts.operationTimeoutSeconds} s deadline`,
      { server: i.uuid, task_state: i.taskState, ...(i.host ? { host: i.host } : {}) }));
  }
  return out;
}
