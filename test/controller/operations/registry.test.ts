import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../../src/domain/lifecycle/serverStatus.js';
import { operationFor, unownedTaskStates } from '../../../src/controller/operations/registry.js';

/** Task states Nova has but nothing here ever writes. */
const NEVER_WRITTEN = new Set<string>([
  TaskState.RESIZE_FINISH, TaskState.RESIZE_CONFIRMING, TaskState.REBOOT_PENDING, TaskState.REBOOT_PENDING_HARD,
]);

test('every task state a server can be in is advanced by exactly one operation', { timeout: 5000 }, () => {
  const written = Object.values(TaskState).filter((s) => !NEVER_WRITTEN.has(s));
  assert.deepEqual(unownedTaskStates(written), []);
  assert.equal(operationFor(TaskState.SCHEDULING), operationFor(TaskState.SPAWNING), 'build owns both of its states');
  assert.equal(operationFor(null), undefined);
});

test('every operation has a deadline step and only rows for its own states', { timeout: 5000 }, () => {
  for (const state of Object.values(TaskState)) {
    const op = operationFor(state);
    if (!op) continue;
    assert.equal(typeof op.onDeadline, 'function', `${op.action} handles its deadline`);
    for (const row of op.transitions) assert.equal(operationFor(row.state), op, `${row.on} belongs to ${op.action}`);
  }
});
